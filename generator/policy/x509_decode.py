"""`x509.decode(pem)` of Kyverno's x509 library: a PEM certificate as the map Kyverno's Go code builds
(field names of Go's x509.Certificate), decoded with the `cryptography` package."""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# Go's x509.PublicKeyAlgorithm and KeyUsage numbering.
_PUBKEY_ALGO = {"RSA": 1, "DSA": 2, "ECDSA": 3, "Ed25519": 4}
_KEY_USAGE = (
    ("digital_signature", 1),
    ("content_commitment", 2),
    ("key_encipherment", 4),
    ("data_encipherment", 8),
    ("key_agreement", 16),
    ("key_cert_sign", 32),
    ("crl_sign", 64),
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _name(name: x509.Name) -> dict[str, Any]:
    oid = x509.oid.NameOID

    def values(o: Any) -> list[str]:
        return [str(a.value) for a in name.get_attributes_for_oid(o)]

    common = values(oid.COMMON_NAME)
    serial = values(oid.SERIAL_NUMBER)
    return {
        "Country": values(oid.COUNTRY_NAME) or None,
        "Organization": values(oid.ORGANIZATION_NAME) or None,
        "OrganizationalUnit": values(oid.ORGANIZATIONAL_UNIT_NAME) or None,
        "Locality": values(oid.LOCALITY_NAME) or None,
        "Province": values(oid.STATE_OR_PROVINCE_NAME) or None,
        "StreetAddress": values(oid.STREET_ADDRESS) or None,
        "PostalCode": values(oid.POSTAL_CODE) or None,
        "SerialNumber": serial[0] if serial else "",
        "CommonName": common[0] if common else "",
    }


def _key_usage(cert: x509.Certificate) -> int:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return 0
    return sum(bit for attr, bit in _KEY_USAGE if getattr(ku, attr))


def _basic(cert: x509.Certificate) -> tuple[bool, bool, int]:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False, False, -1
    return True, bc.ca, -1 if bc.path_length is None else bc.path_length


def _san(cert: x509.Certificate, kind: type) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in san.get_values_for_type(kind)]


def decode(pem: str) -> dict[str, Any]:
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise ValueError(f"failed to decode PEM block containing the certificate: {exc}") from None
    key = cert.public_key()
    algo = type(key).__name__.removeprefix("_")
    public_key: dict[str, Any] = {"N": "", "E": 0}
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        public_key = {"N": str(numbers.n), "E": numbers.e}
    valid, is_ca, max_path = _basic(cert)
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "Raw": _b64(cert.public_bytes(serialization.Encoding.DER)),
        "RawTBSCertificate": _b64(cert.tbs_certificate_bytes),
        "RawSubjectPublicKeyInfo": _b64(spki),
        "RawSubject": _b64(cert.subject.public_bytes()),
        "RawIssuer": _b64(cert.issuer.public_bytes()),
        "Signature": _b64(cert.signature),
        "PublicKeyAlgorithm": next((v for k, v in _PUBKEY_ALGO.items() if k in algo.upper() or k in algo), 0),
        "PublicKey": public_key,
        "SerialNumber": cert.serial_number if cert.serial_number < 2**63 else -1,
        "Issuer": _name(cert.issuer),
        "Subject": _name(cert.subject),
        "NotBefore": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "NotAfter": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "KeyUsage": _key_usage(cert),
        "BasicConstraintsValid": valid,
        "IsCA": is_ca,
        "MaxPathLen": max_path,
        "MaxPathLenZero": max_path == 0,
        "DNSNames": _san(cert, x509.DNSName),
        "EmailAddresses": _san(cert, x509.RFC822Name),
        "IPAddresses": _san(cert, x509.IPAddress),
    }
