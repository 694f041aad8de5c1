"""Rules of the sections around the profiles: Azure and its credential, the admin API, the lease, the
isolation guard, notifications."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from dnsctl.config.problems import Problems, is_loopback
from dnsctl.config.schema import AzureModel, DnsctlSettings, HaModel, IsolationGuardModel, NotifyModel
from dnsctl.config.values import BLOB_URL_QUERY, parse_blob_url, parse_canary, parse_host_port, shown
from dnsctl.core.model import NOTIFY_EVENTS

ADMIN_TOKEN_ENV = "DNSCTL_ADMIN_TOKEN"
AZURE_TOKEN_ENV = "DNSCTL_AZURE_TOKEN"
# The lease's account key for an emulator (dnsctl.controller.blob_lease reads it; kept in step there).
HA_CONNECTION_STRING_ENV = "DNSCTL_HA_CONNECTION_STRING"
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def isolation_guard(p: Problems, guard: IsolationGuardModel) -> None:
    with p.rule():
        for i, canary in enumerate(guard.canaries):
            p.check(f"isolation_guard.canaries[{i}]", parse_canary, canary)


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def notify(p: Problems, notify: NotifyModel, environ: Mapping[str, str], secrets: bool) -> None:
    for i, hook in enumerate(notify.webhooks):
        at = f"notify.webhooks[{i}]"
        with p.rule():
            if (hook.url is None) == (hook.url_env is None):
                p.add(
                    at, "give exactly one of url (in the file) or url_env (the variable that holds the URL)"
                )
        with p.rule():
            if hook.url is not None:
                p.check(f"{at}.url", webhook_url, hook.url)
        with p.rule():
            if hook.url_env is not None:
                if not _ENV_NAME.fullmatch(hook.url_env):
                    p.add(f"{at}.url_env", f"{shown(hook.url_env)} is not an environment variable name")
                elif secrets and not environ.get(hook.url_env):
                    p.add(f"{at}.url_env", f"{hook.url_env} is not set")
        with p.rule():
            if not hook.events:
                p.add(f"{at}.events", f"name at least one event ({', '.join(NOTIFY_EVENTS)})")
            for k, event in enumerate(hook.events):
                if event not in NOTIFY_EVENTS:
                    p.add(f"{at}.events[{k}]", f"{shown(event)} is not an event ({', '.join(NOTIFY_EVENTS)})")


def webhook_url(url: str) -> None:
    """An http(s) URL with a host (its path and query, often a token, are never quoted back)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")


def azure(p: Problems, az: AzureModel) -> None:
    with p.rule():
        if az.client_id is not None and not GUID.fullmatch(az.client_id.strip()):
            p.add(
                "azure.client_id",
                f"{shown(az.client_id)} is not a client id (the GUID of a user-assigned identity); "
                "secrets are never given in the file",
            )
    url = urlsplit(az.base_url)
    with p.rule():
        if url.scheme not in ("https", "http") or not url.hostname:
            p.add("azure.base_url", f"{shown(az.base_url)} is not an http(s) URL")
            return
        if url.scheme == "http" and not is_loopback(url.hostname):
            p.add("azure.base_url", "plain http is accepted only for a loopback emulator; use https")


def _uses_azure(settings: DnsctlSettings) -> bool:
    """Whether Azure's management or storage API is called: records to write, or the blob lease."""
    return settings.ha.lease == "azure-blob" or any(pr.azure is not None for pr in settings.profiles)


def static_credential(p: Problems, settings: DnsctlSettings) -> None:
    host = urlsplit(settings.azure.base_url).hostname or ""
    if settings.azure.credential == "static" and _uses_azure(settings) and not is_loopback(host):
        p.add(
            "azure.credential",
            "'static' (a fixed token from DNSCTL_AZURE_TOKEN) is for a local emulator only: "
            "azure.base_url must be a loopback address",
        )


def static_token(p: Problems, settings: DnsctlSettings, environ: Mapping[str, str]) -> None:
    if settings.azure.credential == "static" and _uses_azure(settings) and not environ.get(AZURE_TOKEN_ENV):
        p.add("azure.credential", f"'static' reads its token from {AZURE_TOKEN_ENV}, which is not set")


def lease_over_http(p: Problems, settings: DnsctlSettings, environ: Mapping[str, str]) -> None:
    """An http blob URL works with an emulator's account key only: the Storage SDK sends a token
    (any azure.credential) over https and nothing else."""
    ha = settings.ha
    if ha.lease != "azure-blob" or not ha.blob_url or urlsplit(ha.blob_url).scheme != "http":
        return
    if not environ.get(HA_CONNECTION_STRING_ENV):
        p.add(
            "ha.blob_url",
            f"plain http needs an emulator's account key in {HA_CONNECTION_STRING_ENV}, which is not set: "
            f"azure.credential ({settings.azure.credential}) gives a token, which is sent over https only",
        )


def admin(p: Problems, listen: str, environ: Mapping[str, str], serving: bool) -> None:
    try:
        where = parse_host_port(listen, None)
    except ValueError as e:
        p.add("admin.listen", str(e))
        return
    if serving and not is_loopback(where.host) and not environ.get(ADMIN_TOKEN_ENV):
        p.add(
            "admin.listen",
            f"{where} is not loopback: set {ADMIN_TOKEN_ENV} so the admin API is not open to the network",
        )


def ha(p: Problems, ha: HaModel) -> None:
    with p.rule():
        if ha.lease == "azure-blob":
            if not ha.blob_url:
                p.add(
                    "ha.blob_url",
                    "ha.lease azure-blob needs blob_url (https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB)",
                )
            else:
                p.check("ha.blob_url", parse_blob_url, ha.blob_url)
    with p.rule():
        if ha.blob_url and ("?" in ha.blob_url or "#" in ha.blob_url):
            p.add("ha.blob_url", BLOB_URL_QUERY)
    with p.rule():
        if not 15 <= ha.lease_duration <= 60 or ha.lease_duration != int(ha.lease_duration):
            p.add("ha.lease_duration", "an Azure Blob lease lasts 15 to 60 whole seconds")
