"""The zones NSD serves to both resolvers: one signed with NSEC, one with NSEC3, one unsigned.

Between them: CNAME chains inside a zone and across zones, wildcards, empty non-terminals, answers too
big for UDP, HTTPS/SVCB, TTL 0, names with no data and names that do not exist.
"""

from __future__ import annotations

SOA = "@ 300 IN SOA ns1 hostmaster 1 3600 600 86400 60"

SIGNED = f"""$ORIGIN signed.example.
$TTL 300
{SOA}
@ NS ns1
ns1 A 127.0.0.1
@ A 192.0.2.1
@ MX 10 mail
@ TXT "v=spf1 -all"
mail A 192.0.2.25
www A 192.0.2.10
www AAAA 2001:db8::10
alias CNAME www
chain CNAME alias
far CNAME www.lab.example.
*.wild A 192.0.2.99
a.b.ent A 192.0.2.11
svc HTTPS 1 . alpn=h2 port=8443
zero 0 A 192.0.2.0
"""

NSEC3 = f"""$ORIGIN nsec3.example.
$TTL 300
{SOA}
@ NS ns1
ns1 A 127.0.0.1
www A 192.0.2.40
www TXT "nsec3"
*.wild AAAA 2001:db8::40
x.y.ent A 192.0.2.41
back CNAME www.signed.example.
"""

BIG_TXT = "\n".join(f'big TXT "{i:03d} {"x" * 96}"' for i in range(45))  # ~4.6 kB: TC even at 4096
MID_TXT = "\n".join(f'mid TXT "{i:03d} {"y" * 96}"' for i in range(16))  # ~1.7 kB: TC at 1232 only

UNSIGNED = f"""$ORIGIN lab.example.
$TTL 300
{SOA}
@ NS ns1
ns1 A 127.0.0.1
@ AAAA 2001:db8::20
www A 192.0.2.20
www AAAA 2001:db8::20
c1 CNAME c2
c2 CNAME c3
c3 CNAME www
out CNAME www.signed.example.
out3 CNAME back.nsec3.example.
dangling CNAME nothere
*.wild TXT "wildcard"
*.wild A 192.0.2.30
x.y.ent A 192.0.2.31
zero 0 A 192.0.2.32
zero 0 TXT "ttl zero"
svc HTTPS 1 svc.lab.example. alpn=h2,h3 port=8443 ipv4hint=192.0.2.20
alias HTTPS 0 www.lab.example.
svcb SVCB 1 . alpn=h2
_dns SVCB 1 www.lab.example. alpn=dot port=853
caa CAA 0 issue "ca.example"
{BIG_TXT}
{MID_TXT}
"""
