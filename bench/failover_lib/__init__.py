"""Helpers of bench/failover.py: replica processes, the DNS servers under test, the querier, scenarios."""
