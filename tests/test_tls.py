"""TLS on every gRPC channel and on the S3 endpoint: real servers on loopback, real certificates.

A certificate authority made here signs the servers' certificates (and a client's, for mTLS). A real
registry serves TLS (its certificate from DISTILLERY_TLS_CERT/_KEY, as the chart's pods get it) and
keeps its data in a real SeaweedFS that speaks only HTTPS; a real verifier requires client
certificates. What must hold: a client that trusts the right CA gets through; a plaintext client,
a client trusting another CA, a client without a certificate where one is required, all fail; the
team token is still checked over TLS; kubelet's plaintext health probe has its own port, which
serves nothing else; renewed certificate files are picked up without a restart.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import subprocess
import uuid
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from distillery.core import channels
from distillery.core.auth import StaticTokens, hash_token
from distillery.core.channels import ClientTLS, ServerTLS, open_channel, uses_tls
from distillery.core.grpc_server import create_server
from distillery.core.s3 import S3Config
from distillery.registry.client import RegistryClient
from distillery.registry.config import RegistryConfig
from distillery.registry.server import create_registry_server
from distillery.stack.s3server import SeaweedS3, free_port
from distillery.v1 import registry_pb2, registry_pb2_grpc
from tests.conftest import stop_process

ADMIN = "tls-admin-token"
TLS_ENV = (channels.ENV_CA, channels.ENV_CLIENT_CERT, channels.ENV_CLIENT_KEY, channels.ENV_SERVER_NAME,
           channels.ENV_CERT, channels.ENV_KEY, channels.ENV_CLIENT_CA, channels.ENV_HEALTH_PORT,
           "DISTILLERY_S3_CA_BUNDLE")


# ---------------------------------------------------------------- a small PKI

def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _ca(name: str):
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def _leaf(ca, name: str, usage):
    ca_cert, ca_key = ca
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert, key


class PKI:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca_cert, self.ca_key = ca = _ca("distillery test CA")
        other = _ca("another CA")
        self.ca = self._write("ca.crt", _pem_cert(ca[0]))
        self.other_ca = self._write("other-ca.crt", _pem_cert(other[0]))
        cert, key = _leaf(ca, "server", ExtendedKeyUsageOID.SERVER_AUTH)
        self.server_cert, self.server_key = self._write("tls.crt", _pem_cert(cert)), self._write("tls.key", _pem_key(key))
        cert, key = _leaf(ca, "client", ExtendedKeyUsageOID.CLIENT_AUTH)
        self.client_cert, self.client_key = self._write("client.crt", _pem_cert(cert)), self._write("client.key", _pem_key(key))
        cert, key = _leaf(other, "server", ExtendedKeyUsageOID.SERVER_AUTH)
        self.other_server_cert = _pem_cert(cert)
        self.other_server_key = _pem_key(key)

    def _write(self, name: str, data: bytes) -> Path:
        path = self.root / name
        path.write_bytes(data)
        return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(autouse=True)
def _no_tls_env():
    """Tests set what they need (the CLI's flags write os.environ too); nothing leaks in from the
    caller's environment or out to other tests."""
    saved = {name: os.environ.pop(name, None) for name in TLS_ENV}
    yield
    for name, value in saved.items():
        os.environ.pop(name, None)
        if value is not None:
            os.environ[name] = value


def _env(**values: Path | str | int):
    """Set DISTILLERY_TLS_* for the duration of a server's construction (what its CLI flags do)."""
    class _Scope:
        def __enter__(self):
            self.saved = {k: os.environ.get(k) for k in values}
            os.environ.update({k: str(v) for k, v in values.items()})

        def __exit__(self, *exc):
            for k, v in self.saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return _Scope()


# ---------------------------------------------------------------- servers: SeaweedFS over HTTPS, the registry over TLS

@pytest.fixture(scope="module")
def https_s3(pki, tmp_path_factory):
    """A real S3 server (SeaweedFS) that speaks only HTTPS, its certificate signed by the test CA."""
    server = SeaweedS3(tmp_path_factory.mktemp("s3-tls"), "tls-access", "tls-secret-key")
    command = server.command() + [f"-s3.cert.file={pki.server_cert}", f"-s3.key.file={pki.server_key}"]
    log = open(server.log_path, "ab")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True, cwd=server.data_dir)
    log.close()
    config = S3Config(endpoint=f"127.0.0.1:{server.port}", access_key="tls-access", secret_key="tls-secret-key",
                      bucket=f"tls-{uuid.uuid4().hex[:10]}", ca_bundle=pki.ca)
    client = config.minio()
    import time

    deadline, last = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"SeaweedFS exited ({process.returncode}): {server.log_path.read_text()[-2000:]}")
        try:
            client.list_buckets()
            break
        except Exception as exc:  # noqa: BLE001 -- not up yet
            last = exc
            time.sleep(0.3)
    else:
        pytest.fail(f"SeaweedFS over HTTPS not ready: {last}")
    yield config
    stop_process(process, timeout=15)


@pytest.fixture(scope="module")
def registry(pki, https_s3):
    """(TLS address, health address) of a real registry: TLS on its port, its store over HTTPS."""
    health_port = free_port()
    with _env(**{channels.ENV_CERT: pki.server_cert, channels.ENV_KEY: pki.server_key,
                 channels.ENV_HEALTH_PORT: health_port}):
        handle, _ = create_registry_server("127.0.0.1:0", RegistryConfig(
            s3=https_s3, admin_token_hashes=(hash_token(ADMIN),)))
    yield handle.port, health_port
    handle.stop(grace_s=1)


@pytest.fixture(scope="module")
def team_token(registry, pki) -> str:
    with RegistryClient(f"grpcs://127.0.0.1:{registry[0]}", ADMIN, ClientTLS(ca=pki.ca)) as admin:
        return admin.create_team("tls-team")


def _whoami(address: str, token: str | None, tls: ClientTLS | None = None) -> registry_pb2.Principal:
    with open_channel(address, tls) as channel:
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        return registry_pb2_grpc.RegistryServiceStub(channel).WhoAmI(
            registry_pb2.WhoAmIRequest(), metadata=metadata, timeout=10)


def _code(call) -> grpc.StatusCode | None:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()
    return None


# ---------------------------------------------------------------- the registry over TLS

def test_a_client_trusting_the_ca_gets_through_and_the_store_is_reached_over_https(registry, pki, team_token,
                                                                                  monkeypatch, https_s3):
    port, _ = registry
    monkeypatch.setenv(channels.ENV_CA, str(pki.ca))  # what --tls-ca / the chart's pods set
    assert _whoami(f"grpcs://127.0.0.1:{port}", team_token).team == "tls-team"
    # The SDK, end to end: a push lands in the HTTPS-only object store, and comes back.
    with RegistryClient(f"grpcs://127.0.0.1:{port}", team_token) as client:
        data = b'{"id": "a", "n": 1}\n{"id": "b", "n": 2}\n'
        manifest = client.push(registry_pb2.PushHeader(name="tls-rows", kind=registry_pb2.KIND_DATASET), [data])
        assert b"".join(client.pull(manifest.ref)) == data
    assert any(o.object_name for o in https_s3.minio().list_objects(https_s3.bucket, recursive=True))


def test_a_plaintext_client_is_refused(registry, team_token, pki, monkeypatch):
    port, _ = registry
    assert _code(lambda: _whoami(f"grpc://127.0.0.1:{port}", team_token)) == grpc.StatusCode.UNAVAILABLE
    assert _code(lambda: _whoami(f"127.0.0.1:{port}", team_token)) == grpc.StatusCode.UNAVAILABLE
    monkeypatch.setenv(channels.ENV_CA, str(pki.ca))
    assert _whoami(f"grpcs://127.0.0.1:{port}", team_token).team == "tls-team"  # and it still serves


def test_a_client_trusting_another_ca_is_refused(registry, team_token, pki):
    port, _ = registry
    wrong = ClientTLS(ca=pki.other_ca)
    assert _code(lambda: _whoami(f"grpcs://127.0.0.1:{port}", team_token, wrong)) == grpc.StatusCode.UNAVAILABLE
    # The system's roots do not know the test CA either.
    assert _code(lambda: _whoami(f"grpcs://127.0.0.1:{port}", team_token)) == grpc.StatusCode.UNAVAILABLE


def test_the_token_is_still_checked_over_tls(registry, team_token, pki):
    port, _ = registry
    right = ClientTLS(ca=pki.ca)
    address = f"grpcs://127.0.0.1:{port}"
    assert _code(lambda: _whoami(address, None, right)) == grpc.StatusCode.UNAUTHENTICATED
    assert _code(lambda: _whoami(address, "dst_not-a-token", right)) == grpc.StatusCode.UNAUTHENTICATED
    assert _whoami(address, team_token, right).team == "tls-team"


def test_the_health_port_answers_probes_in_plaintext_and_serves_nothing_else(registry, team_token):
    port, health_port = registry
    with grpc.insecure_channel(f"127.0.0.1:{health_port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        stub = registry_pb2_grpc.RegistryServiceStub(channel)
        code = _code(lambda: stub.WhoAmI(registry_pb2.WhoAmIRequest(),
                                         metadata=(("authorization", f"Bearer {team_token}"),), timeout=10))
        assert code == grpc.StatusCode.UNIMPLEMENTED


def test_the_cli_reaches_a_tls_registry_with_grpcs_and_tls_ca(registry, team_token, pki):
    from distillery.cli.main import cli

    port, _ = registry
    runner = CliRunner()
    result = runner.invoke(cli, ["registry", "ls", "--registry", f"grpcs://127.0.0.1:{port}", "--token", team_token,
                                 "--tls-ca", str(pki.ca), "--json"])
    assert result.exit_code == 0, result.output
    assert "tls-rows" in {m["ref"].split("@")[0].split("/")[-1] for m in json.loads(result.stdout)}
    # The group-level flag serves verbs without --token too; a wrong CA is a clear failure, not a hang.
    result = runner.invoke(cli, ["--tls-ca", str(pki.other_ca), "registry", "ls", "--registry",
                                 f"grpcs://127.0.0.1:{port}", "--token", team_token])
    assert result.exit_code != 0 and "UNAVAILABLE" in result.output


def test_s3_over_https_needs_the_right_ca(https_s3, pki):
    from urllib3.exceptions import MaxRetryError, SSLError

    assert https_s3.secure  # a CA bundle implies HTTPS
    wrong = https_s3.model_copy(update={"ca_bundle": pki.other_ca})
    with pytest.raises((SSLError, MaxRetryError)):
        wrong.minio().list_buckets()
    plaintext = https_s3.model_copy(update={"ca_bundle": None, "secure": False})
    with pytest.raises(Exception):  # noqa: B017 -- an HTTP request to an HTTPS-only port: any failure
        plaintext.minio().list_buckets()


# ---------------------------------------------------------------- mTLS, rotation, settings

def test_mutual_tls_refuses_a_client_without_a_certificate(pki):
    """A real verifier requiring client certificates (what tls.clientAuth turns on in the chart)."""
    from distillery.verifier.client import VerifierClient
    from distillery.verifier.config import VerifierConfig
    from distillery.verifier.server import create_verifier_server

    with _env(**{channels.ENV_CERT: pki.server_cert, channels.ENV_KEY: pki.server_key,
                 channels.ENV_CLIENT_CA: pki.ca}):
        handle, verifier = create_verifier_server("127.0.0.1:0", VerifierConfig(workers=1),
                                                  StaticTokens([hash_token("team-token")]))
    try:
        address = f"grpcs://127.0.0.1:{handle.port}"
        os.environ[channels.ENV_CA] = str(pki.ca)
        with VerifierClient(address, "team-token") as client:
            assert _code(client.info) == grpc.StatusCode.UNAVAILABLE
        os.environ[channels.ENV_CLIENT_CERT] = str(pki.client_cert)
        os.environ[channels.ENV_CLIENT_KEY] = str(pki.client_key)
        with VerifierClient(address, "team-token") as client:
            assert client.info().workers == 1
        with VerifierClient(address, "wrong-token") as client:  # a certificate is no token
            assert _code(client.info) == grpc.StatusCode.UNAUTHENTICATED
    finally:
        handle.stop(grace_s=1)
        verifier.close()


def test_renewed_certificate_files_are_served_without_a_restart(pki, tmp_path):
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(pki.server_cert.read_bytes())
    key.write_bytes(pki.server_key.read_bytes())
    handle = create_server("127.0.0.1:0", lambda server: None, [], tls=ServerTLS(cert=cert, key=key))

    def healthy(ca: Path) -> bool:
        with open_channel(f"grpcs://127.0.0.1:{handle.port}", ClientTLS(ca=ca)) as channel:
            try:
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            except grpc.RpcError:
                return False
        return True

    try:
        assert healthy(pki.ca) and not healthy(pki.other_ca)
        # cert-manager renews in place (here: a certificate from another CA, to tell them apart).
        cert.write_bytes(pki.other_server_cert)
        key.write_bytes(pki.other_server_key)
        assert healthy(pki.other_ca) and not healthy(pki.ca)
    finally:
        handle.stop(grace_s=0)


def test_when_a_channel_uses_tls():
    tls = ClientTLS(ca=Path("/ca.crt"))
    assert uses_tls("grpcs://10.0.0.1:50052", None) and uses_tls("grpcs://127.0.0.1:1", tls)
    assert not uses_tls("grpc://10.0.0.1:50052", tls)  # an explicit choice
    # A CA configured: a scheme-less remote address never falls back to plaintext...
    assert uses_tls("registry.ns.svc.cluster.local:50052", tls) and uses_tls("10.0.0.1:50052", tls)
    # ...while the local stack (loopback, plaintext) keeps working from the same shell.
    assert not uses_tls("127.0.0.1:50052", tls) and not uses_tls("localhost:50052", tls)
    assert not uses_tls("10.0.0.1:50052", None)
    with pytest.raises(ValueError, match="grpcs://"):
        open_channel("https://10.0.0.1:50052")


def test_half_configured_or_broken_server_tls_fails_at_start(pki, tmp_path):
    with _env(**{channels.ENV_CERT: pki.server_cert}):
        with pytest.raises(ValueError, match=channels.ENV_KEY):
            ServerTLS.from_env()
    with _env(**{channels.ENV_CLIENT_CA: pki.ca}):
        with pytest.raises(ValueError, match=channels.ENV_CERT):
            ServerTLS.from_env()
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ValueError, match="garbage.pem"):
        create_server("127.0.0.1:0", lambda server: None, [], tls=ServerTLS(cert=garbage, key=pki.server_key))
