"""TLS for every gRPC channel: the one place clients open channels and servers get credentials.

Clients name a service as ``grpcs://host:port`` (TLS), ``grpc://host:port`` (plaintext) or plain
``host:port``. A plain address uses TLS as soon as a CA or client certificate is configured
(``DISTILLERY_TLS_CA`` / ``--tls-ca``), so a token never falls back to plaintext because a scheme
was left off -- except to a loopback host: the local stack (``distillery up``) serves plaintext on
127.0.0.1, where no other machine can listen in and the team token still guards every call.

The environment is the one source of settings, so every process a service or the CLI starts (stage
drivers, Ray workers) inherits them; the CLI's ``--tls-*`` flags write to it:

================================  ======================================================
``DISTILLERY_TLS_CA``             CA bundle (PEM) clients verify servers with
``DISTILLERY_TLS_CLIENT_CERT``    client certificate chain (PEM), for servers that require mTLS
``DISTILLERY_TLS_CLIENT_KEY``     its private key
``DISTILLERY_TLS_SERVER_NAME``    name to verify instead of the address's host (port-forwards)
``DISTILLERY_TLS_CERT``           a server's certificate chain (PEM): the server speaks TLS only
``DISTILLERY_TLS_KEY``            its private key
``DISTILLERY_TLS_CLIENT_CA``      CA a server requires client certificates from (mTLS)
================================  ======================================================

Servers re-read their certificate files when they change (cert-manager renews them in place), on
the next handshake; clients read theirs when a channel is opened.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import grpc
from pydantic import BaseModel, ConfigDict, Field

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS = (("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_send_message_length", MAX_MESSAGE_BYTES))

ENV_CA = "DISTILLERY_TLS_CA"
ENV_CLIENT_CERT = "DISTILLERY_TLS_CLIENT_CERT"
ENV_CLIENT_KEY = "DISTILLERY_TLS_CLIENT_KEY"
ENV_SERVER_NAME = "DISTILLERY_TLS_SERVER_NAME"
ENV_CERT = "DISTILLERY_TLS_CERT"
ENV_KEY = "DISTILLERY_TLS_KEY"
ENV_CLIENT_CA = "DISTILLERY_TLS_CLIENT_CA"
ENV_HEALTH_PORT = "DISTILLERY_HEALTH_PORT"

SECURE_SCHEME = "grpcs://"
PLAIN_SCHEME = "grpc://"


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value) if value else None


class ClientTLS(BaseModel):
    """How a client verifies servers (and, for mTLS, proves who it is)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca: Path | None = Field(None, description="CA bundle (PEM); None: the system's roots.")
    cert: Path | None = Field(None, description="Client certificate chain (PEM) for servers requiring mTLS.")
    key: Path | None = Field(None, description="The client certificate's private key (PEM).")
    server_name: str | None = Field(None, description="Name to verify instead of the address's host.")

    @classmethod
    def from_env(cls) -> "ClientTLS | None":
        """The environment's settings; None when it configures no TLS material at all."""
        tls = cls(ca=_env_path(ENV_CA), cert=_env_path(ENV_CLIENT_CERT), key=_env_path(ENV_CLIENT_KEY),
                  server_name=os.environ.get(ENV_SERVER_NAME) or None)
        return tls if (tls.ca or tls.cert) else None

    def credentials(self) -> grpc.ChannelCredentials:
        if (self.cert is None) != (self.key is None):
            raise ValueError("a TLS client certificate needs its key, and a key its certificate")
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes() if self.ca else None,
            private_key=self.key.read_bytes() if self.key else None,
            certificate_chain=self.cert.read_bytes() if self.cert else None)


class ServerTLS(BaseModel):
    """A server's certificate, and the CA it requires client certificates from (mTLS), if any."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cert: Path = Field(description="Certificate chain (PEM), leaf first.")
    key: Path = Field(description="Private key (PEM).")
    client_ca: Path | None = Field(None, description="Require client certificates signed by this CA (mTLS).")

    @classmethod
    def from_env(cls) -> "ServerTLS | None":
        cert, key = _env_path(ENV_CERT), _env_path(ENV_KEY)
        if cert is None and key is None:
            if _env_path(ENV_CLIENT_CA):
                raise ValueError(f"{ENV_CLIENT_CA} needs a server certificate: set {ENV_CERT} and {ENV_KEY}")
            return None
        if cert is None or key is None:
            raise ValueError(f"TLS needs both a certificate and a key: set {ENV_CERT} and {ENV_KEY}")
        return cls(cert=cert, key=key, client_ca=_env_path(ENV_CLIENT_CA))

    def _files(self) -> tuple[Path, ...]:
        return (self.cert, self.key, *((self.client_ca,) if self.client_ca else ()))

    def _stamp(self) -> tuple[tuple[int, int], ...]:
        return tuple((s.st_mtime_ns, s.st_size) for s in (f.stat() for f in self._files()))

    def _configuration(self):
        return grpc.ssl_server_certificate_configuration(
            [(self.key.read_bytes(), self.cert.read_bytes())],
            root_certificates=self.client_ca.read_bytes() if self.client_ca else None)

    def credentials(self) -> grpc.ServerCredentials:
        """Credentials that pick up renewed files on the next handshake (a stat per handshake).

        Raises at once on unreadable or malformed files, so a misconfigured server fails at start."""
        lock = threading.Lock()
        stamp = [self._stamp()]

        def fetch():
            try:
                current = self._stamp()
                with lock:
                    if current == stamp[0]:
                        return None  # unchanged: keep the current configuration
                    stamp[0] = current
                return self._configuration()
            except OSError:
                return None  # mid-rotation (files briefly missing): keep serving with the old ones

        # grpc checks the PEM only at the first handshake; load_pem_* fails now instead.
        _check_pem(self.cert, self.key)
        return grpc.dynamic_ssl_server_credentials(self._configuration(), fetch,
                                                   require_client_authentication=self.client_ca is not None)


def _check_pem(cert: Path, key: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        x509.load_pem_x509_certificates(cert.read_bytes())
        load_pem_private_key(key.read_bytes(), password=None)
    except ValueError as exc:
        raise ValueError(f"TLS certificate {cert} / key {key}: {exc}") from None


def split_address(address: str) -> tuple[str, bool | None]:
    """``grpcs://h:p`` -> (``h:p``, True); ``grpc://h:p`` -> (``h:p``, False); ``h:p`` -> (``h:p``, None)."""
    if address.startswith(SECURE_SCHEME):
        return address[len(SECURE_SCHEME):].rstrip("/"), True
    if address.startswith(PLAIN_SCHEME):
        return address[len(PLAIN_SCHEME):].rstrip("/"), False
    if "://" in address:
        raise ValueError(f"{address}: use grpcs://host:port (TLS), grpc://host:port or host:port")
    return address, None


def is_loopback(target: str) -> bool:
    host = target.rsplit(":", 1)[0].strip("[]") if ":" in target else target
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def uses_tls(address: str, tls: ClientTLS | None) -> bool:
    target, secure = split_address(address)
    if secure is not None:
        return secure
    return tls is not None and not is_loopback(target)


def open_channel(address: str, tls: ClientTLS | None = None,
                 options: Sequence[tuple[str, object]] = CHANNEL_OPTIONS) -> grpc.Channel:
    """A client channel to ``address`` (see the module's docstring for when it uses TLS).

    ``tls`` None: the environment's settings (``DISTILLERY_TLS_*``)."""
    tls = tls if tls is not None else ClientTLS.from_env()
    target, _ = split_address(address)
    options = list(options)
    if not uses_tls(address, tls):
        return grpc.insecure_channel(target, options=options)
    tls = tls or ClientTLS()  # grpcs:// without a configured CA: the system's roots
    if tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return grpc.secure_channel(target, tls.credentials(), options=options)


def health_port_from_env() -> int | None:
    value = os.environ.get(ENV_HEALTH_PORT, "").strip()
    return int(value) if value else None
