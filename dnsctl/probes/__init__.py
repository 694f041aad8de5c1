"""Probes: check endpoints over HTTP(S) or TCP and report ProbeResults (never raise for a down endpoint)."""

from dnsctl.probes.base import Prober
from dnsctl.probes.http import HttpProber
from dnsctl.probes.round import DispatchingProber, make_prober, probe_round
from dnsctl.probes.tcp import TcpProber

__all__ = ["DispatchingProber", "HttpProber", "Prober", "TcpProber", "make_prober", "probe_round"]
