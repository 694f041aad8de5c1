"""`python -m dnsctl.emulator` as a process: base URL on its first line, https, control API, clean exit."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import IO

import httpx
import pytest
from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError
from azure.mgmt.privatedns import PrivateDnsManagementClient
from azure.mgmt.privatedns.models import CnameRecord, RecordSet, RecordSetProperties

from dnsctl.emulator import ZoneId
from dnsctl.emulator.control_client import EmulatorControl
from tests.emulator.helpers import API, SyncFakeCredential
from tests.support.waits import run_process, wait_exit

SUB, RG, ZONE = "sub-proc", "rg-proc", "privatelink.azurecr.io"


def first_line(stream: IO[str], timeout: float = 20) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    return lines.get(timeout=timeout).strip()


@pytest.fixture
def process(cert_files: tuple[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    chain, key = cert_files
    command = [
        sys.executable, "-m", "dnsctl.emulator", "--port", "0", "--tls-cert", chain, "--tls-key", key,
        "--zone", f"{SUB}/{RG}/{ZONE}",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc, first_line(proc.stdout)
    finally:
        if proc.poll() is None:
            proc.kill()
        wait_exit(proc, 10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_process_serves_the_sdk_over_https_and_exits_cleanly(
    process: tuple[subprocess.Popen[str], str], ca_path: str
) -> None:
    proc, base_url = process
    assert base_url.startswith("https://127.0.0.1:")
    client = PrivateDnsManagementClient(
        SyncFakeCredential(),
        SUB,
        base_url=base_url,
        connection_verify=ca_path,
    )
    record = RecordSet(
        properties=RecordSetProperties(ttl=30, cname_record=CnameRecord(cname="eastus.example"))
    )
    with client, EmulatorControl(base_url, verify=ca_path) as control:
        created = client.record_sets.create_or_update(RG, ZONE, "CNAME", "myregistry", record)
        control.inject_concurrent_write(f"{SUB}/{RG}/{ZONE}", "CNAME", "myregistry")
        with pytest.raises(ResourceModifiedError):
            client.record_sets.create_or_update(
                RG,
                ZONE,
                "CNAME",
                "myregistry",
                record,
                etag=created.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        log = control.request_log()
        assert [(r["method"], r["status"]) for r in log] == [("PUT", 201), ("PUT", 412)]
    proc.send_signal(signal.SIGTERM)
    assert wait_exit(proc, 10) == 0
    assert proc.stderr is not None
    assert "Traceback" not in proc.stderr.read()


def test_process_over_plain_http_without_auth() -> None:
    command = [sys.executable, "-m", "dnsctl.emulator", "--no-auth", "--zone", ZONE]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        base_url = first_line(proc.stdout)
        assert base_url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{base_url}{ZoneId.parse(ZONE).arm_id}?{API}").status_code == 200
        proc.send_signal(signal.SIGINT)
        assert wait_exit(proc, 10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            wait_exit(proc, 10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.parametrize(
    "arguments",
    [["--tls-cert", "only-cert.pem"], ["--zone", "a/b"]],
    ids=["cert-without-key", "bad-zone"],
)
def test_bad_arguments_exit_2(arguments: list[str]) -> None:
    result = run_process(
        [sys.executable, "-m", "dnsctl.emulator", *arguments], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip()
