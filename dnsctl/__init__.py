"""dnsctl: health-checked DNS failover for private networks."""

__version__ = "0.1.0"
