"""TLS contexts for the ingestion port and its senders, and the self-signed first-start pair.

Servers speak TLS 1.2 or newer only. When no certificate is given, ``ensure_self_signed``
creates a key and a certificate for ``localhost``/``127.0.0.1`` (and the host's name) in the
data dir once and reuses them after, so senders can pin that file with ``--ca``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
from pathlib import Path

from workbench.errors import ConfigError

CERT_NAME = "ingestor-cert.pem"
KEY_NAME = "ingestor-key.pem"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def ensure_self_signed(directory: Path, hostnames: tuple[str, ...] = ()) -> tuple[Path, Path, bool]:
    """(cert, key, created): the pair in ``directory``, generated when absent."""
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path, False
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    names = {"localhost", socket.gethostname(), *hostnames}
    ips = {"127.0.0.1", "::1"} | {n for n in names if _is_ip(n)}  # an address the ingestor binds on a host
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in sorted(names - ips) if n]
    alt += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in sorted(ips)]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "workbench ingestor (self-signed)")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        # key identifiers let a sender trust several such certs from one bundle (same subject)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    tmp_key = key_path.with_suffix(".tmp")
    fd = os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    tmp_key.replace(key_path)
    tmp_cert = cert_path.with_suffix(".tmp")
    tmp_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tmp_cert.replace(cert_path)
    return cert_path, key_path, True


def server_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """TLS 1.2+ server context; with ``client_ca`` a client certificate signed by it is required."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!MD5:!DSS")
    ctx.options |= ssl.OP_NO_COMPRESSION
    # no session tickets: a sender that writes and closes without reading (loggen, many syslog
    # clients) would leave them unread, its close would be a reset, and on a reset the kernel drops
    # what we had not read yet (2 % of loggen's logs were lost so; tests/integration/test_ingest_service.py)
    ctx.options |= ssl.OP_NO_TICKET
    ctx.num_tickets = 0
    # gRPC clients require ALPN h2 (OTLP/gRPC on the same port); clients that offer nothing,
    # such as syslog senders, are unaffected
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load TLS certificate {cert} / key {key}: {exc}") from exc
    if client_ca is not None:
        try:
            ctx.load_verify_locations(cafile=str(client_ca))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load client CA {client_ca}: {exc}") from exc
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(
    ca: Path | None = None,
    insecure: bool = False,
    cert: Path | None = None,
    key: Path | None = None,
) -> ssl.SSLContext:
    """A sender's context: verify against ``ca`` (or the system store), or not at all if ``insecure``."""
    ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key) if key else None)
    return ctx
