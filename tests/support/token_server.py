"""A registry token server for docker-registry's `auth: token`, with a signing key made for the test.

    tokens = TokenServer(tmp_path / "tokens", "127.0.0.45", users={"puller": "s3cret"}).start()
    Registry(root, "127.0.0.44", auth=tokens.registry_auth())   # the registry trusts tokens' certificate
    tokens.mode = "refuse"                                       # ok | refuse | broken | slow
    tokens.stop()                                                # the token endpoint is down

Endpoints (the Docker token spec and ACR's exchange):
- ``GET /oauth2/token?service=..&scope=..`` anonymous (when allowed) or with Basic credentials;
- ``POST /oauth2/token`` form ``grant_type=password`` or ``refresh_token`` (containerd's OAuth flow, ACR);
- ``POST /oauth2/exchange`` form ``grant_type=access_token&access_token=<AAD token>`` -> a refresh token.

JWTs are RS256 with the certificate in the `x5c` header, which docker-registry verifies against the
`rootcertbundle` (the same certificate).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import json
import secrets
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tests.support.loopback_http import LoopbackServer
from tests.support.oci import free_port

SERVICE = "dnsctl-test-registry"
ISSUER = "dnsctl-test-issuer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SigningKey:
    def __init__(self, root: Path) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dnsctl test token signer")])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        root.mkdir(parents=True, exist_ok=True)
        self.cert_path = root / "token-signer.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def jwt(self, claims: Mapping[str, Any]) -> str:
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(sig)}"


def _access(scope: str) -> list[dict[str, Any]]:
    out = []
    for item in scope.split(" "):
        parts = item.split(":")
        if len(parts) == 3:
            out.append({"type": parts[0], "name": parts[1], "actions": parts[2].split(",")})
    return out


class TokenServer(LoopbackServer):
    def __init__(
        self,
        root: Path,
        host: str = "127.0.0.1",
        *,
        users: Mapping[str, str] | None = None,
        anonymous: bool = True,
        aad_token: str | None = None,
        lifetime: int = 300,
    ) -> None:
        super().__init__(host, free_port(host))  # the port is known before the start (the realm)
        self.root = root
        self.users = dict(users or {})
        self.anonymous = anonymous
        self.aad_token = aad_token
        self.lifetime = lifetime
        self.mode = "ok"
        self.grant = True  # False: tokens are signed but carry no access (the registry refuses them)
        self.slow_delay = 5.0
        self.signer = SigningKey(root)
        self.issued: list[str] = []  # the grant or "anonymous" of every token handed out
        self.refresh_tokens: set[str] = set()

    @property
    def realm(self) -> str:
        return f"http://{self.host}:{self.port}/oauth2/token"

    def registry_auth(self) -> dict[str, object]:
        return {
            "token": {
                "realm": self.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(self.signer.cert_path),
            }
        }

    def token(self, scope: str, subject: str) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + self.lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": _access(scope) if self.grant else [],
        }
        return self.signer.jwt(claims)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _reply(self, status: int, doc: Mapping[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # The client may have given up (a probe's timeout): nothing to tell it then.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def _basic(self) -> str | None:
                value = self.headers.get("Authorization", "")
                if not value.lower().startswith("basic "):
                    return None
                try:
                    user, _, password = base64.b64decode(value[6:]).decode().partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    return ""
                return user if owner.users.get(user) == password else ""

            def _gate(self) -> bool:
                if owner.mode == "slow":
                    owner.released.wait(owner.slow_delay)  # answers late, or at once when stopped
                if owner.mode == "broken":
                    self._reply(500, {"errors": [{"code": "UNKNOWN", "message": "token service broken"}]})
                    return False
                if owner.mode == "refuse":
                    self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "refused"}]})
                    return False
                return True

            def _grant(self, scope: str, subject: str, refresh: bool = False) -> None:
                owner.issued.append(subject)
                token = owner.token(scope, subject)
                doc: dict[str, Any] = {"token": token, "access_token": token, "expires_in": owner.lifetime}
                if refresh:
                    rt = secrets.token_hex(16)
                    owner.refresh_tokens.add(rt)
                    doc["refresh_token"] = rt
                self._reply(200, doc)

            def do_GET(self) -> None:
                if not self._gate():
                    return
                q = parse_qs(urlsplit(self.path).query)
                user = self._basic()
                if user == "" or (user is None and not owner.anonymous):
                    self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "credentials"}]})
                    return
                self._grant(" ".join(q.get("scope", [])), user or "anonymous")

            def do_POST(self) -> None:
                if not self._gate():
                    return
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                path = urlsplit(self.path).path
                grant = form.get("grant_type")
                scope = form.get("scope", "")
                if path == "/oauth2/exchange" and grant == "access_token":
                    if owner.aad_token is None or form.get("access_token") != owner.aad_token:
                        self._reply(
                            401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad access token"}]}
                        )
                        return
                    rt = secrets.token_hex(16)
                    owner.refresh_tokens.add(rt)
                    self._reply(200, {"refresh_token": rt})
                    return
                if path == "/oauth2/token" and grant == "refresh_token":
                    if form.get("refresh_token") not in owner.refresh_tokens:
                        self._reply(
                            401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad refresh token"}]}
                        )
                        return
                    self._grant(scope, "refresh")
                    return
                if path == "/oauth2/token" and grant == "password":
                    user = form.get("username", "")
                    if owner.users.get(user) != form.get("password"):
                        self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "credentials"}]})
                        return
                    self._grant(scope, user, refresh=True)
                    return
                self._reply(404, {"errors": [{"code": "NOT_FOUND", "message": path}]})

        return Handler
