"""What dnsctl reports, as typed frozen documents: status, check, plan, reconcile and mirror reports.

Pure (no I/O, no clock reads): built from the core's values. `dnsctl/cli/render.py` renders them as text
and JSON; the admin API serves a status document's JSON form.
"""
