"""The control plane's keys and certificates, and a kubeconfig per identity.

One CA signs everything: the API server's serving certificate (SANs 127.0.0.1, localhost and the
in-cluster names) and a client certificate per component (CN = user, O = groups, as Kubernetes reads them).
A separate key signs service-account tokens. ECDSA P-256 throughout, as envtest's TinyCA does.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=365)
SERVICE_IP = "10.0.0.1"  # first address of the API server's --service-cluster-ip-range
SERVER_NAMES = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]

# identity -> (user, groups): what each client of the API server authenticates as
IDENTITIES = {
    "admin": ("stratops-admin", ["system:masters"]),
    "controller-manager": ("system:kube-controller-manager", []),
    "scheduler": ("system:kube-scheduler", []),
}


@dataclass(frozen=True)
class Pki:
    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.folder / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.folder / "apiserver.key"

    @property
    def sa_key(self) -> Path:
        return self.folder / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.folder / "sa.pub"

    def client_cert(self, identity: str) -> Path:
        return self.folder / f"{identity}.crt"

    def client_key(self, identity: str) -> Path:
        return self.folder / f"{identity}.key"

    def kubeconfig(self, identity: str) -> Path:
        return self.folder / f"{identity}.kubeconfig"


def create(folder: Path, api_port: int) -> Pki:
    """Create (or re-create) every key, certificate and kubeconfig under FOLDER for a server on API_PORT."""
    folder.mkdir(parents=True, exist_ok=True)
    pki = Pki(folder)
    ca_key = _new_key()
    ca_cert = _certificate(_name("stratops-cluster-ca"), ca_key, ca_key, None, is_ca=True)
    _write(pki.ca_key, ca_key, ca_cert, pki.ca_cert)
    serving_key = _new_key()
    sans = [x509.DNSName(n) for n in SERVER_NAMES] + [
        x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", SERVICE_IP)
    ]
    serving = _certificate(_name("kube-apiserver"), serving_key, ca_key, ca_cert, sans=sans, server=True)
    _write(pki.serving_key, serving_key, serving, pki.serving_cert)
    for identity, (user, groups) in IDENTITIES.items():
        key = _new_key()
        _write(
            pki.client_key(identity),
            key,
            _certificate(_name(user, groups), key, ca_key, ca_cert),
            pki.client_cert(identity),
        )
        write_kubeconfig(pki, identity, api_port)
    sa_key = _new_key()
    pki.sa_key.write_bytes(_key_pem(sa_key))
    pki.sa_key.chmod(0o600)
    pki.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pki


def write_kubeconfig(pki: Pki, identity: str, api_port: int) -> Path:
    """A kubeconfig with absolute paths to the CA and the client pair, so it works from any directory."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "stratops",
                "cluster": {"server": f"https://127.0.0.1:{api_port}", "certificate-authority": str(pki.ca_cert)},
            }
        ],
        "users": [
            {
                "name": identity,
                "user": {
                    "client-certificate": str(pki.client_cert(identity)),
                    "client-key": str(pki.client_key(identity)),
                },
            }
        ],
        "contexts": [{"name": "stratops", "context": {"cluster": "stratops", "user": identity}}],
        "current-context": "stratops",
    }
    path = pki.kubeconfig(identity)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organizations: list[str] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    *,
    is_ca: bool = False,
    server: bool = False,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
        ).add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(key_path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate, cert_path: Path) -> None:
    key_path.write_bytes(_key_pem(key))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
