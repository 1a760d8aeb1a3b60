"""C2PA signing credentials: a development CA, loading PEMs, and the checks C2PA validators apply.

C2PA validators (c2pa-rs 0.91, used by c2pa-python 0.38.1) accept a signing certificate only if it
is an end entity issued by a CA (not self-signed, not CA=true), with the digitalSignature key usage,
an AuthorityKeyIdentifier, and the emailProtection extended key usage (documentSigning is accepted
only when it is added to `trust.trust_config` on both signer and reader, so we do not use it).
`check_signing_chain` applies the same rules up front, so a bad certificate fails with a message
that says what to fix instead of an opaque error at the first signature.

A production deployment passes PEM paths (`load_credentials`) or a callback that signs with a key
held in a KMS/HSM (`Credentials.sign_callback`); `generate_dev_credentials` is for the demo and tests.
"""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEV_CA_NAME = "Consentframe Development Root CA"
DEV_SIGNER_NAME = "Consentframe Development Content Signer"
# File names inside a provenance directory (see `write_credentials`).
CHAIN_FILE = "signer-chain.pem"
KEY_FILE = "signer-key.pem"
ANCHORS_FILE = "trust-anchors.pem"
CA_KEY_FILE = "ca-key.pem"


class CredentialError(ValueError):
    """A signing certificate or key that C2PA validators would reject. `code` is stable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Credentials:
    """What a `ProvenanceSigner` needs.

    chain_pem: the signing certificate first, then any intermediates (never the root).
    key_pem: the private key in PEM (PKCS#8), or None when `sign_callback` signs instead.
    alg: C2PA algorithm name: "es256" (P-256), "es384", "ed25519", "ps256"...
    sign_callback: bytes -> signature, for keys that never leave a KMS/HSM. For ES* algorithms
        c2pa-rs 0.91 accepts the DER signature a KMS returns as well as raw r||s.
    trust_anchors_pem: the root certificate(s) verifiers should trust for this signer.
    """

    chain_pem: str
    key_pem: str | None = None
    alg: str = "es256"
    sign_callback: Callable[[bytes], bytes] | None = None
    trust_anchors_pem: str | None = None

    def __post_init__(self):
        if (self.key_pem is None) == (self.sign_callback is None):
            raise CredentialError(
                "credentials_key_missing",
                "Give either a private key PEM or a signing callback (exactly one of them).",
            )

    def __repr__(self) -> str:  # never print the key
        return f"Credentials(alg={self.alg!r}, subject={signer_subject(self.chain_pem)!r})"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Consentframe"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        ]
    )


def _new_key(alg: str):
    if alg == "es256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise CredentialError("credentials_alg_unsupported", f"Cannot generate a {alg!r} key: use es256 or ed25519.")


def _sign_hash(key):
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass(frozen=True)
class DevCredentials:
    """A generated CA and signer. `credentials` carries the CA root as its trust anchor."""

    credentials: Credentials
    ca_cert_pem: str
    ca_key_pem: str


def generate_dev_credentials(
    *,
    alg: str = "es256",
    now: dt.datetime | None = None,
    valid_days: int = 365,
    ca_valid_days: int = 3650,
    eku: tuple = (ExtendedKeyUsageOID.EMAIL_PROTECTION,),
    self_signed: bool = False,
) -> DevCredentials:
    """Make a local root CA and an end-entity signing certificate it issues.

    `eku`, `valid_days` and `self_signed` exist so tests can make the certificates validators reject.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    ca_key = _new_key(alg)
    ca_name = _name(DEV_CA_NAME)
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=ca_valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, _sign_hash(ca_key))
    )

    key = _new_key(alg)
    subject = _name(DEV_SIGNER_NAME)
    # A self-signed variant: the signer is its own issuer (validators reject it).
    issuer_key, issuer_name = (key, subject) if self_signed else (ca_key, ca_name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    cert = builder.sign(issuer_key, _sign_hash(issuer_key))
    ca_pem = _pem(ca_cert)
    return DevCredentials(
        credentials=Credentials(chain_pem=_pem(cert), key_pem=_key_pem(key), alg=alg, trust_anchors_pem=ca_pem),
        ca_cert_pem=ca_pem,
        ca_key_pem=_key_pem(ca_key),
    )


def write_credentials(directory: Path, dev: DevCredentials) -> dict[str, Path]:
    """Write the chain, the keys (mode 0600) and the trust anchors into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        CHAIN_FILE: (dev.credentials.chain_pem, 0o644),
        KEY_FILE: (dev.credentials.key_pem, 0o600),
        ANCHORS_FILE: (dev.ca_cert_pem, 0o644),
        CA_KEY_FILE: (dev.ca_key_pem, 0o600),
    }
    paths = {}
    for name, (text, mode) in files.items():
        path = directory / name
        # Create afresh with the final mode so a key is never readable by others, even briefly.
        path.unlink(missing_ok=True)
        with open(path, "w", opener=lambda p, flags, m=mode: os.open(p, flags, m)) as fh:
            fh.write(text)
        paths[name] = path
    return paths


def load_credentials(
    chain_path: str | Path, key_path: str | Path, *, anchors_path: str | Path | None = None, alg: str | None = None
) -> Credentials:
    """Read a signing chain and its private key from PEM files; the algorithm follows the key."""
    try:
        chain_pem = Path(chain_path).read_text()
        key_pem = Path(key_path).read_text()
        anchors = Path(anchors_path).read_text() if anchors_path else None
    except OSError as exc:
        raise CredentialError(
            "credentials_unreadable", f"Cannot read the C2PA credentials ({exc}); check the C2PA_* paths."
        ) from exc
    return Credentials(
        chain_pem=chain_pem, key_pem=key_pem, alg=alg or key_algorithm(key_pem), trust_anchors_pem=anchors
    )


def key_algorithm(key_pem: str) -> str:
    """The C2PA algorithm name for a PEM private key."""
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise CredentialError(
            "credentials_key_invalid", f"The signing key is not an unencrypted PEM private key: {exc}"
        ) from exc
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        bits = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(key.curve.name)
        if bits:
            return bits
    raise CredentialError(
        "credentials_alg_unsupported", "Use a P-256, P-384, P-521 or Ed25519 key for C2PA signing."
    )


def load_chain(chain_pem: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(chain_pem.encode())
    except ValueError as exc:
        raise CredentialError("credentials_chain_invalid", f"The signing chain is not PEM certificates: {exc}") from exc
    return certs


def signer_subject(chain_pem: str) -> str:
    try:
        return load_chain(chain_pem)[0].subject.rfc4514_string()
    except CredentialError:
        return "?"


def check_signing_chain(chain_pem: str, *, now: dt.datetime | None = None) -> x509.Certificate:
    """Raise `CredentialError` with what to fix if C2PA validators would reject this signing chain."""
    now = now or dt.datetime.now(dt.timezone.utc)
    cert = load_chain(chain_pem)[0]

    def ext(cls):
        try:
            return cert.extensions.get_extension_for_class(cls).value
        except x509.ExtensionNotFound:
            return None

    if cert.issuer == cert.subject:
        raise CredentialError(
            "certificate_self_signed",
            "The C2PA signing certificate is self-signed; have it issued by a CA (e.g. `manage.py provenance_init`).",
        )
    basic = ext(x509.BasicConstraints)
    if basic is not None and basic.ca:
        raise CredentialError(
            "certificate_is_ca", "The C2PA signing certificate is a CA certificate; sign with an end-entity certificate."
        )
    usage = ext(x509.KeyUsage)
    if usage is None or not usage.digital_signature:
        raise CredentialError(
            "certificate_key_usage", "The C2PA signing certificate needs the digitalSignature key usage."
        )
    if ext(x509.AuthorityKeyIdentifier) is None:
        raise CredentialError(
            "certificate_no_aki", "The C2PA signing certificate needs an AuthorityKeyIdentifier extension."
        )
    eku = ext(x509.ExtendedKeyUsage)
    if eku is None or ExtendedKeyUsageOID.EMAIL_PROTECTION not in list(eku):
        raise CredentialError(
            "certificate_wrong_eku",
            "The C2PA signing certificate needs the emailProtection extended key usage "
            "(documentSigning is accepted only with a matching trust_config on every reader).",
        )
    if now < cert.not_valid_before_utc:
        raise CredentialError(
            "certificate_not_yet_valid",
            f"The C2PA signing certificate is valid only from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC.",
        )
    if now >= cert.not_valid_after_utc:
        raise CredentialError(
            "certificate_expired",
            f"The C2PA signing certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}; issue a new one "
            "(manifests signed with it stay valid only if they carry a TSA timestamp).",
        )
    return cert
