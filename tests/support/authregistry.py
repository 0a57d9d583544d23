"""A registry that wants a login, as Docker Hub, GHCR and private registries do.

A real distribution registry (Debian's ``docker-registry``) served over TLS with
``auth: token``, and its token service: an https endpoint here that checks a
user name and password (HTTP Basic) and answers with a JWT for the scopes
asked, signed by a key whose certificate the registry trusts (``x5c``). One CA
signs both servers' certificates; the lab host that pulls trusts it through
``/etc/docker/certs.d``, cf through ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import http.server
import ipaddress
import json
import secrets
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tests.support.waiting import poll

ADDRESS = "10.251.0.1"  # this machine on the lab's bridge
SERVICE = "cflab-auth"
ISSUER = "cflab-issuer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((ADDRESS, 0))
        return int(s.getsockname()[1])


def _cert(
    subject: str, key: rsa.RSAPrivateKey, issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] | None
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    else:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ADDRESS))])
        builder = builder.add_extension(san, False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@dataclass
class AuthRegistry:
    """A running token-auth registry: where it is, the CA to trust, the one login."""

    host: str  # "10.251.0.1:PORT", as image references name it
    ca_file: Path
    username: str
    password: str
    tokens_issued: list[str]  # the scopes of every token handed out

    def auth_entry(self) -> dict[str, dict[str, str]]:
        """The ``auths`` entry of a Docker client config for this registry."""
        pair = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {self.host: {"auth": pair}}


def _token_handler(
    signer: rsa.RSAPrivateKey, signer_cert: x509.Certificate, password: str, issued: list[str]
) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def do_GET(self) -> None:
            query = urllib.parse.urlparse(self.path)
            header = self.headers.get("Authorization", "")
            expected = base64.b64encode(f"cf:{password}".encode()).decode()
            if query.path != "/token" or header != f"Basic {expected}":
                self.send_response(401)
                self.end_headers()
                return
            params = urllib.parse.parse_qs(query.query)
            access = []
            for scope in params.get("scope", []):
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
                issued.append(scope)
            now = int(time.time())
            claims = {
                "iss": ISSUER,
                "sub": "cf",
                "aud": params.get("service", [SERVICE])[0],
                "exp": now + 300,
                "nbf": now - 10,
                "iat": now,
                "jti": secrets.token_hex(8),
                "access": access,
            }
            der = signer_cert.public_bytes(serialization.Encoding.DER)
            head = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
            signing = f"{_b64url(json.dumps(head).encode())}.{_b64url(json.dumps(claims).encode())}"
            signature = signer.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
            body = json.dumps({"token": f"{signing}.{_b64url(signature)}"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def auth_registry(folder: Path) -> Iterator[AuthRegistry]:
    """Start the registry and its token service in ``folder``; stop both afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _cert("cflab test CA", ca_key, None)
    server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = _cert(ADDRESS, server_key, (ca, ca_key))
    signer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = _cert("cflab token signer", signer_key, None)
    (folder / "ca.crt").write_bytes(_pem(ca))
    (folder / "server.crt").write_bytes(_pem(server) + _pem(ca))
    (folder / "server.key").write_bytes(_key_pem(server_key))
    (folder / "signer.crt").write_bytes(_pem(signer))

    password = secrets.token_hex(12)
    issued: list[str] = []
    token_port, port = _free_port(), _free_port()
    httpd = http.server.ThreadingHTTPServer(
        (ADDRESS, token_port), _token_handler(signer_key, signer, password, issued)
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.crt", folder / "server.key")
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
        f"http:\n  addr: {ADDRESS}:{port}\n"
        f"  tls:\n    certificate: {folder / 'server.crt'}\n    key: {folder / 'server.key'}\n"
        "auth:\n  token:\n"
        f"    realm: https://{ADDRESS}:{token_port}/token\n"
        f"    service: {SERVICE}\n    issuer: {ISSUER}\n"
        f"    rootcertbundle: {folder / 'signer.crt'}\n"
    )
    log = (folder / "registry.log").open("w")
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log)
    try:
        _wait_up(f"{ADDRESS}:{port}", folder / "ca.crt", process)
        yield AuthRegistry(f"{ADDRESS}:{port}", folder / "ca.crt", "cf", password, issued)
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()
        log.close()
        httpd.shutdown()


def _wait_up(where: str, ca: Path, process: subprocess.Popen[bytes]) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    port = int(where.rpartition(":")[2])

    def answers() -> bool | None:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry ended with {process.returncode}")
        with (
            socket.create_connection((ADDRESS, port), timeout=2) as raw,
            context.wrap_socket(raw, server_hostname=ADDRESS),
        ):
            return True

    poll(answers, what=f"the token-auth registry at {where}", tolerate=(OSError,))
