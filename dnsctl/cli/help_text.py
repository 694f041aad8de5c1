"""What `dnsctl COMMAND --help` shows after the options: examples, and the exit codes of that command."""

from __future__ import annotations

# Exit codes that every command shares; each command lists its own in front of these.
_BAD_INPUT = "  2  bad configuration or bad command-line arguments"
_FAILED_AT_START = "  1  could not start (an address in use, a zone that cannot be read, ...)"

EPILOGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # command: (examples, exit codes)
    "validate": (
        (
            "dnsctl validate -c dnsctl.yaml",
            "DNSCTL_AZURE__CREDENTIAL=workload dnsctl validate -c dnsctl.yaml",
        ),
        ("  0  the configuration is valid", "  2  invalid: every problem is listed, each with its place"),
    ),
    "import": (
        (
            "dnsctl import traffic-manager profile.json --fqdn myregistry.azurecr.io -o dnsctl.yaml",
            "az network traffic-manager profile show -g RG -n NAME -o json | dnsctl import traffic-manager -",
            "dnsctl import private-traffic-manager profile.json policy.json map.json -o dnsctl.yaml",
        ),
        (
            "  0  imported: every field has a dnsctl equivalent",
            "  1  the output file could not be written",
            "  2  the input cannot be read or is not what the format expects (not JSON, not a profile), "
            "or bad arguments",
            "  3  imported, but some fields could not be mapped: listed on stderr and as comments",
        ),
    ),
    "export": (
        ("dnsctl export private-traffic-manager -c dnsctl.yaml -o ptm.json",),
        (
            "  0  converted: everything has an equivalent",
            _BAD_INPUT,
            "  3  converted, but some settings have no equivalent: listed on stderr",
        ),
    ),
    "check": (
        (
            "dnsctl check -c dnsctl.yaml",
            "dnsctl check -c dnsctl.yaml --profile myregistry --rounds 3   # hysteresis applies",
            "dnsctl check -c dnsctl.yaml --json | jq '.profiles[].decision'",
        ),
        (
            "  0  every profile has an Online endpoint",
            "  1  a profile has no Online endpoint",
            _BAD_INPUT,
        ),
    ),
    "plan": (
        (
            "dnsctl plan -c dnsctl.yaml",
            "dnsctl plan -c dnsctl.yaml --json --state-file state.json",
            "dnsctl plan -c dnsctl.yaml --profile myregistry --detailed-exitcode   # 0 in sync, 2 pending",
        ),
        (
            "  0  nothing to change, or the plan is printed",
            "  1  a zone could not be read",
            _BAD_INPUT,
            "  3  the plan would be refused (max_changes_per_run, an empty record, a record not owned)",
            "  4  degraded: a profile has no Online endpoint",
            "with --detailed-exitcode (as Terraform): 0 nothing to change, 2 changes pending, 1 any",
            "     error (a bad configuration or bad arguments too: 2 only ever means changes); 3, 4 as above",
        ),
    ),
    "reconcile": (
        (
            "dnsctl reconcile -c dnsctl.yaml",
            "dnsctl reconcile -c dnsctl.yaml --dry-run",
            "dnsctl reconcile -c dnsctl.yaml --profile myregistry   # only this profile's record",
            "dnsctl reconcile -c dnsctl.yaml --force   # apply a plan larger than max_changes_per_run",
        ),
        (
            "  0  converged: changes applied, or none needed",
            "  1  failed: a zone could not be read or a write failed after retries",
            _BAD_INPUT,
            "  3  refused: max_changes_per_run exceeded, a record would be emptied, or it is not owned",
            "  4  degraded: a profile has no Online endpoint; its record was kept or set by when_all_down",
        ),
    ),
    "serve": (
        (
            "dnsctl serve -c dnsctl.yaml",
            "dnsctl serve -c /etc/dnsctl/dnsctl.yaml --state-file /var/lib/dnsctl/state.json",
            "dig @127.0.0.1 -p 5353 myregistry.azurecr.io",
        ),
        ("  0  stopped by SIGTERM or SIGINT", _FAILED_AT_START, _BAD_INPUT),
    ),
    "run": (
        (
            "dnsctl run -c dnsctl.yaml",
            "DNSCTL_ADMIN_TOKEN=... dnsctl run -c /etc/dnsctl/dnsctl.yaml",
        ),
        ("  0  stopped by SIGTERM or SIGINT (the lease is released)", _FAILED_AT_START, _BAD_INPUT),
    ),
    "mirror": (
        (
            "dnsctl mirror -c /etc/dnsctl/dnsctl.yaml --state-file /var/lib/dnsctl/mirror-state.json",
            "dnsctl mirror -c dnsctl.yaml --once   # probe, write hosts.toml once, exit",
            "dnsctl mirror -c dnsctl.yaml --once --json",
        ),
        (
            "  0  --once: every file written or already right; else stopped by SIGTERM or SIGINT",
            "  1  a file could not be written (or the agent could not start)",
            _BAD_INPUT,
            "  3  --once: a file exists that dnsctl does not manage (the profile has no mirror.adopt)",
            "  4  --once: a profile has no Online endpoint, or no verdicts yet (nothing written for it)",
        ),
    ),
    "demo": (
        (
            "dnsctl demo",
            "dnsctl demo --forever",
            "dnsctl demo --print-config > lab.yaml && dnsctl demo -c lab.yaml",
        ),
        (
            "  0  DNS followed the replica's health both ways (or --forever was stopped)",
            "  1  it did not, or the demo could not start",
            _BAD_INPUT,
        ),
    ),
    "status": (
        (
            "dnsctl status",
            "dnsctl status --url http://10.1.0.4:9153",
            "dnsctl status -c dnsctl.yaml --json",
            "dnsctl status --watch --interval 5   # redraw every 5 s until Ctrl-C",
        ),
        (
            "  0  the controller answered (with --watch: stopped by Ctrl-C)",
            "  1  the admin API could not be reached or refused (with --watch: on the first frame)",
            _BAD_INPUT,
        ),
    ),
    "resync": (
        ("DNSCTL_ADMIN_TOKEN=... dnsctl resync",),
        (
            "  0  re-read; drift found (if any) was corrected (what was found and done is printed)",
            "  1  the admin API could not be reached, or refused (a missing token, a standby replica,",
            "     `serve`, which publishes nothing to re-read), or the re-read or a write failed",
            _BAD_INPUT,
        ),
    ),
    "drain": (
        ("DNSCTL_ADMIN_TOKEN=... dnsctl drain myregistry eastus",),
        (
            "  0  drained (the new decision is printed)",
            "  1  the admin API could not be reached, or refused (a wrong name, a missing token)",
            _BAD_INPUT,
        ),
    ),
    "undrain": (
        ("DNSCTL_ADMIN_TOKEN=... dnsctl undrain myregistry eastus",),
        (
            "  0  the endpoint follows its probes again",
            "  1  the admin API could not be reached, or refused (a wrong name, a missing token)",
            _BAD_INPUT,
        ),
    ),
    "audit": (
        (
            "dnsctl audit -c dnsctl.yaml",
            "dnsctl audit --profile myregistry --json",
            "dnsctl audit --zone SUB/rg-dns/privatelink.azurecr.io",
        ),
        (
            "  0  every record a pull needs is in the zone (and points where the probes go)",
            "  1  a record is missing or points at an address no probe reaches (each is listed), or a zone",
            "     could not be read",
            _BAD_INPUT,
        ),
    ),
    "history": (
        (
            "dnsctl history",
            "dnsctl history myregistry --json",
            "dnsctl history --state-file /var/lib/dnsctl/state.json",
        ),
        (
            "  0  the history was printed",
            "  1  the admin API could not be reached, or the state file could not be read",
            _BAD_INPUT,
        ),
    ),
    "failback": (
        ("DNSCTL_ADMIN_TOKEN=... dnsctl failback myregistry",),
        (
            "  0  failback requested (the new decision is printed)",
            "  1  the admin API could not be reached, or refused (a wrong name, a missing token, a profile",
            "     with failback: auto, which returns by itself)",
            _BAD_INPUT,
        ),
    ),
    "completion": (
        (
            "source <(dnsctl completion bash)",
            'dnsctl completion zsh > "${fpath[1]}/_dnsctl"',
            "dnsctl completion fish > ~/.config/fish/completions/dnsctl.fish",
        ),
        ("  0  the script was printed", "  2  an unknown shell"),
    ),
}

MAIN_EPILOG = """\
examples:
  dnsctl demo                              an offline failover and failback on loopback
  dnsctl validate -c dnsctl.yaml           check a configuration
  dnsctl check -c dnsctl.yaml              probe everything now and show where each profile would point
  dnsctl status                            what a running controller decided, why and since when
  dnsctl COMMAND --help                    each command's options, examples and exit codes

exit codes: 0 success, 1 failed, 2 bad configuration or arguments, 3 refused by a safety rule,
4 degraded (a profile has no Online endpoint); see each command's --help."""


def epilog(command: str) -> str | None:
    """None for a command without an entry here (a test asks every command to have one)."""
    if command not in EPILOGS:
        return None
    examples, codes = EPILOGS[command]
    lines = ["examples:", *(f"  {e}" for e in examples), "", "exit codes:", *codes]
    return "\n".join(lines)
