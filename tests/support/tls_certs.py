"""Certificates made in the test: a private CA that a client context may trust, leaves it signs, and a
self-signed leaf that nothing trusts (cryptography, a runtime dependency already)."""
from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _builder(subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1)))


class TestCA:
    __test__ = False  # not a pytest class

    def __init__(self, folder: Path):
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._cert = (_builder(_name("fluxbase test CA"), _name("fluxbase test CA"), self._key.public_key())
                      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                      .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                   content_commitment=False, key_encipherment=False,
                                                   data_encipherment=False, key_agreement=False,
                                                   encipher_only=False, decipher_only=False), critical=True)
                      .sign(self._key, hashes.SHA256()))
        self.cert_path = folder / "ca.pem"
        self.cert_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def client_context(self) -> ssl.SSLContext:
        """A context like the server's default (certificate and host name checked) that trusts only this CA."""
        return ssl.create_default_context(cafile=str(self.cert_path))

    def server_context(self, *names: str, sni: list | None = None) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (_builder(_name(names[0]), self._cert.subject, key.public_key())
                .add_extension(_san(list(names)), critical=False)
                .sign(self._key, hashes.SHA256()))
        return _server_context(self.folder, names[0], cert, key, sni)


def self_signed_context(folder: Path, *names: str, sni: list | None = None) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(_name(names[0]), _name(names[0]), key.public_key())
            .add_extension(_san(list(names)), critical=False).sign(key, hashes.SHA256()))
    return _server_context(folder, "self-" + names[0], cert, key, sni)


def _server_context(folder: Path, stem: str, cert, key, sni: list | None) -> ssl.SSLContext:
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(_pem_key(key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    if sni is not None:
        context.sni_callback = lambda sock, server_name, ctx: sni.append(server_name) and None
    return context
