"""A throwaway CA and a serving certificate for 127.0.0.1 / localhost.

Clients verify the demo server exactly like a real one (kubeconfig
certificate-authority-data), so TLS code paths are exercised rather than skipped.
EC P-256 keys: generating them takes milliseconds, RSA would slow every test.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True, slots=True)
class ServingCerts:
    ca_file: str
    cert_file: str
    key_file: str
    ca_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
             start: datetime.datetime, end: datetime.datetime, *,
             ca: bool) -> x509.CertificateBuilder:
    """What both certificates share; `ca` decides what the key may be used for: signing
    certificates (the CA) or serving TLS (the API server's key usages, as kubeadm's)."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_encipherment=not ca, key_cert_sign=ca,
                          crl_sign=ca, content_commitment=False, data_encipherment=False,
                          key_agreement=False, encipher_only=False, decipher_only=False),
            critical=True,
        )
    )


def generate(directory: str, *, hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1"),
             days: int = 365) -> ServingCerts:
    """Write ca.crt, apiserver.crt and apiserver.key into `directory`."""
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        _builder(_name("kwatch-demo-ca"), _name("kwatch-demo-ca"), ca_key.public_key(),
                 start, end, ca=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    for dns in ("kubernetes", "kubernetes.default", "kubernetes.default.svc"):
        sans.append(x509.DNSName(dns))
    cert = (
        _builder(_name("kube-apiserver"), ca_cert.subject, key.public_key(), start, end,
                 ca=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    os.makedirs(directory, exist_ok=True)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    paths = ServingCerts(
        ca_file=os.path.join(directory, "ca.crt"),
        cert_file=os.path.join(directory, "apiserver.crt"),
        key_file=os.path.join(directory, "apiserver.key"),
        ca_pem=ca_pem,
    )
    with open(paths.ca_file, "wb") as f:
        f.write(ca_pem)
    with open(paths.cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    # The key file is private: create it 0600 before writing.
    fd = os.open(paths.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths
