"""Local stand-ins for `dnsctl demo`: registry-like replicas on loopback (see dnsctl.demo.replicas)."""
