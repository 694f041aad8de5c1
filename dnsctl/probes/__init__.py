"""Probes: check endpoints over HTTP(S) or TCP and report ProbeResults (never raise for a down endpoint)."""

from dnsctl.probes.base import Prober
from dnsctl.probes.http import HttpProber
from dnsctl.probes.round import DispatchingProber, probe_round
from dnsctl.probes.tcp import TcpProber

__all__ = ["DispatchingProber", "HttpProber", "Prober", "TcpProber", "probe_round"]
