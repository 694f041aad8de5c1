"""The embedded resolver behind `dnsctl serve`: steered names, lab zones, forwarding with a cache."""

from dnsctl.errors import ListenError
from dnsctl.resolver.metrics import PrometheusCollector, ResolverMetrics
from dnsctl.resolver.server import ResolverServer
from dnsctl.resolver.steering import SteeredAnswer, SteeringTable

__all__ = [
    "ListenError",
    "PrometheusCollector",
    "ResolverMetrics",
    "ResolverServer",
    "SteeredAnswer",
    "SteeringTable",
]
