"""One error tree, and `main` alone turns it into messages and exit codes: a user's mistake is never a
traceback. The cases are the ones a new user (and a hostile one) ran into, each through a real `dnsctl`."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import pytest

from dnsctl import errors
from dnsctl.config.rules import MAX_TXT_BYTES
from dnsctl.errors import (
    ConfigError,
    DnsctlError,
    LeaseError,
    ListenError,
    OperatorError,
    Problem,
    StateError,
    TargetError,
    UpstreamError,
)
from dnsctl.process.clock import SystemClock
from tests.support.waits import OutputLog, run_process, wait_exit

CONFIG = """\
profiles:
  - name: app
    fqdn: app.lab.internal
    monitor: {protocol: tcp, port: 9, interval: 10s, timeout: 1s}
    endpoints:
      - {name: a, target: a.lab.internal, priority: 1, addresses: [127.0.0.1]}
resolver:
  listen: ["127.0.0.1:DNS_PORT"]
  zones:
    - name: lab.internal
      records:
        - {name: big, type: TXT, value: TXT_VALUE}
admin:
  listen: ADMIN_LISTEN
"""


def config(tmp_path: Path, *, dns_port: int = 0, admin: str = "127.0.0.1:0", txt: str = "hello") -> Path:
    path = tmp_path / "dnsctl.yaml"
    text = CONFIG.replace("DNS_PORT", str(dns_port)).replace("ADMIN_LISTEN", admin).replace("TXT_VALUE", txt)
    path.write_text(text, encoding="utf-8")
    return path


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSCTL_")}
    return env | extra


def dnsctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = run_process(
        [sys.executable, "-m", "dnsctl", *args],
        capture_output=True,
        text=True,
        env=env or environment(),
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def test_every_error_is_a_dnsctl_error_that_knows_whether_it_may_pass() -> None:
    tree = {
        ConfigError([]): False,
        OperatorError("no such endpoint"): False,
        ListenError("cannot listen"): False,
        UpstreamError("no upstream answered"): True,
        TargetError("throttled", status=429): True,
        TargetError("server error", status=503): True,
        TargetError("forbidden", status=403): False,
        TargetError("no connection"): True,
        LeaseError("held elsewhere", taken=True): True,
        StateError("unreadable state file"): False,
    }
    for error, transient in tree.items():
        assert isinstance(error, DnsctlError)
        assert error.transient is transient, error


def test_configuration_problems_are_typed_values() -> None:
    err = ConfigError([Problem("admin.listen", "bad", "dnsctl.yaml:3"), "a plain line"])
    assert err.problems == [Problem("admin.listen", "bad", "dnsctl.yaml:3"), Problem("", "a plain line")]
    assert err.lines == ["dnsctl.yaml:3: admin.listen: bad", "a plain line"]


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.EADDRINUSE, "address in use"),
        (errno.EACCES, "permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)"),
        (errno.EADDRNOTAVAIL, "no such local address"),
    ],
)
def test_listen_errors_read_the_same_for_every_listener(code: int, words: str) -> None:
    error = ListenError.from_os_error("127.0.0.1:53", OSError(code, os.strerror(code)))
    assert str(error) == f"cannot listen on 127.0.0.1:53: {words}"


def test_the_error_tree_lives_in_one_module() -> None:
    found = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    assert {
        "ConfigError",
        "OperatorError",
        "ListenError",
        "UpstreamError",
        "LeaseError",
        "LoopUnavailable",
    } <= found
    assert "StateError" in found and "TargetError" in found


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port held for TCP and UDP."""
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    port = tcp.getsockname()[1]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with contextlib.suppress(OSError):  # TCP alone makes it busy for both listeners
        udp.bind(("127.0.0.1", port))
    try:
        yield port
    finally:
        tcp.close()
        udp.close()


def test_admin_port_in_use(tmp_path: Path, busy_port: int) -> None:
    done = dnsctl("serve", "-c", str(config(tmp_path, admin=f"127.0.0.1:{busy_port}")))
    assert (done.returncode, done.stderr) == (
        1,
        f"dnsctl: cannot listen on 127.0.0.1:{busy_port}: address in use\n",
    )


def test_dns_port_in_use(tmp_path: Path, busy_port: int) -> None:
    done = dnsctl("serve", "-c", str(config(tmp_path, dns_port=busy_port)))
    assert (done.returncode, done.stderr) == (
        1,
        f"dnsctl: cannot listen on 127.0.0.1:{busy_port}: address in use\n",
    )


def test_admin_off_loopback_without_a_token_is_refused_by_validate_and_serve(tmp_path: Path) -> None:
    path = config(tmp_path, admin="0.0.0.0:9153")
    for command in ("validate", "serve"):
        done = dnsctl(command, "-c", str(path))
        assert done.returncode == 2
        assert f"{path}:14: admin.listen: 0.0.0.0:9153 is not loopback: set DNSCTL_ADMIN_TOKEN" in done.stderr
    assert dnsctl("validate", "-c", str(path), env=environment(DNSCTL_ADMIN_TOKEN="t0ken")).returncode == 0


def test_a_bad_json_override(tmp_path: Path) -> None:
    done = dnsctl("validate", "-c", str(config(tmp_path)), env=environment(DNSCTL_RESOLVER__UPSTREAMS="x"))
    assert done.returncode == 2
    assert "  DNSCTL_RESOLVER__UPSTREAMS: resolver.upstreams: not valid JSON" in done.stderr


def test_dev_zero() -> None:
    done = dnsctl("validate", "-c", "/dev/zero")
    assert (done.returncode, done.stderr.splitlines()[1]) == (
        2,
        "  /dev/zero: larger than 1 MiB: not a configuration file",
    )


def test_deep_nesting(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("profiles: " + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
    done = dnsctl("validate", "-c", str(path))
    assert done.returncode == 2 and "nested deeper than 64 levels" in done.stderr


def test_a_txt_value_too_long_is_refused_before_serving(tmp_path: Path) -> None:
    path = config(tmp_path, txt="x" * 65_536)
    for command in ("validate", "serve"):
        done = dnsctl(command, "-c", str(path))
        assert done.returncode == 2
        assert "resolver.zones[0].records[0].value: a TXT value of 65536 bytes does not fit" in done.stderr


def test_the_longest_txt_value_validate_accepts_is_served(tmp_path: Path) -> None:
    path = config(tmp_path, txt="x" * MAX_TXT_BYTES)
    log = tmp_path / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dnsctl", "serve", "-c", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=environment(),
    )
    assert proc.stdout is not None
    output = OutputLog(proc.stdout, log)
    try:
        port = int(output.wait_for(r"answering on 127\.0\.0\.1:(\d+)", 20, proc).group(1))
        for _ in range(2):
            reply = dns.query.tcp(
                dns.message.make_query("big.lab.internal", "TXT"), "127.0.0.1", port=port, timeout=5
            )
            (rrset,) = reply.answer
            assert sum(len(s) for rdata in rrset for s in rdata.strings) == MAX_TXT_BYTES
    finally:
        proc.send_signal(signal.SIGTERM)
        wait_exit(proc, 15)
        output.close()
    assert proc.returncode == 0 and "Traceback" not in log.read_text(errors="replace")


def test_an_unreachable_admin_api_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the command runs
    done = dnsctl("status", "--url", f"http://127.0.0.1:{port}")
    assert done.returncode == 1
    assert done.stderr.startswith(f"dnsctl: cannot reach the admin API at http://127.0.0.1:{port}")
    assert len(done.stderr.splitlines()) == 1


def test_a_state_file_that_cannot_be_written_is_a_state_error_and_one_that_cannot_be_read_is_set_aside(
    tmp_path: Path,
) -> None:
    from dnsctl.core.model import DnsctlSpec
    from dnsctl.process.state_store import FileStore

    spec = DnsctlSpec(profiles=())
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StateError, match="cannot save the health history"):
        FileStore(blocker / "state.json", clock=SystemClock()).save(spec, {})
    # An unreadable file is never an error that stops dnsctl: it is moved aside and reported.
    (tmp_path / "list.json").write_text("[]")
    store = FileStore(tmp_path / "list.json", clock=SystemClock())
    assert store.load(spec, {}).states == {}
    assert store.problem is not None and "is not a JSON object" in store.problem
    assert store.moved_to is not None and store.moved_to.exists()
