"""Signing keys and the C2PA certificate chain.

On first use a local root CA → intermediate CA → signing certificate is created under
``settings.keys_dir`` (files 0600, directory 0700) with the profile c2pa-rs accepts
(RECIPES: certificate profile). Operators can instead bring their own chain and key
(``key_provider="files"``) or plug an HSM/KMS in through a ``module:callable`` factory
that returns a :class:`KeyProvider` — the private key then never enters this process::

    provider = build_key_provider(settings)          # creates the chain if missing
    signature = provider.sign(b"to be signed")        # DER ECDSA P-256 / SHA-256
    for cert in show_certificates(settings): print(cert.role, cert.subject, cert.not_after)
    rotate_signing_certificate(settings)              # new leaf, same root
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from common.privatefiles import write_private
from provenance.interface import CertificateError, SigningUnavailableError
from provenance.settings import ProvenanceSettings

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "CertificateInfo",
    "FileKeyProvider",
    "KeyProvider",
    "LocalKeyProvider",
    "build_c2pa_signer",
    "build_key_provider",
    "ensure_local_chain",
    "rotate_signing_certificate",
    "show_certificates",
    "trust_anchors_pem",
]

ROOT_KEY, ROOT_CERT = "root.key", "root.pem"
INTERMEDIATE_KEY, INTERMEDIATE_CERT = "intermediate.key", "intermediate.pem"
SIGNING_KEY, SIGNING_CERT = "signing.key", "signing.pem"
CHAIN = "chain.pem"  # signing certificate then intermediate: what COSE x5chain carries

# RFC 5280 §4.2.1.12; RECIPES: an explicit EKU that is not anyEKU. documentSigning is
# RFC 9336; emailProtection keeps older c2pa-rs validators happy.
_OID_DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"


@runtime_checkable
class KeyProvider(Protocol):
    """Signs C2PA claims; an HSM/KMS implements this without exposing its key."""

    algorithm: str  # "es256" — the COSE algorithm the signature uses

    def certificate_chain_pem(self) -> str:
        """Signing certificate first, then intermediates (not the root)."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Signature over ``data``: DER-encoded or raw r‖s ECDSA."""
        ...

    def own_trust_anchor_pem(self) -> str | None:
        """A root this provider vouches for (the local CA), or None."""
        ...


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    role: str  # "root" | "intermediate" | "signing"
    subject: str
    issuer: str
    serial_hex: str
    not_before: datetime
    not_after: datetime
    sha256_fingerprint: str  # lowercase hex over the DER certificate
    path: Path | None  # None when an HSM/KMS provider presents the chain

    def as_dict(self) -> dict[str, str]:
        """JSON-ready, for ``aigc-gateway certs show``."""
        return {
            "role": self.role,
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial_hex,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "sha256_fingerprint": self.sha256_fingerprint,
            "path": "" if self.path is None else str(self.path),
        }


# --- key providers ----------------------------------------------------------------------


class _PemKeyProvider:
    algorithm = "es256"

    def __init__(self, key_pem: bytes, chain_pem: str, anchor_pem: str | None) -> None:
        self._key = _load_ec_private_key(key_pem)
        self._chain_pem = chain_pem
        self._anchor_pem = anchor_pem

    def certificate_chain_pem(self) -> str:
        return self._chain_pem

    def sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))

    def own_trust_anchor_pem(self) -> str | None:
        return self._anchor_pem


class LocalKeyProvider(_PemKeyProvider):
    """The auto-created local chain under ``keys_dir``."""

    @classmethod
    def open(cls, keys_dir: Path) -> LocalKeyProvider:
        return cls(
            (keys_dir / SIGNING_KEY).read_bytes(),
            (keys_dir / CHAIN).read_text(),
            (keys_dir / ROOT_CERT).read_text(),
        )


class FileKeyProvider(_PemKeyProvider):
    """Bring your own: a PEM chain (leaf first) and its PKCS#8 EC P-256 key."""

    @classmethod
    def open(cls, chain_path: Path, key_path: Path) -> FileKeyProvider:
        try:
            chain_pem = chain_path.read_text()
            key_pem = key_path.read_bytes()
        except OSError as exc:
            raise CertificateError(f"cannot read the configured chain or key: {exc}") from exc
        _check_leaf_matches_key(chain_pem, key_pem)
        return cls(key_pem, chain_pem, None)


def build_key_provider(settings: ProvenanceSettings) -> KeyProvider:
    """The configured provider; ``local`` creates the chain on first use."""
    name = settings.key_provider
    if name == "local":
        keys_dir = _require_keys_dir(settings)
        ensure_local_chain(settings)
        return LocalKeyProvider.open(keys_dir)
    if name == "files":
        if settings.cert_chain_path is None or settings.private_key_path is None:
            raise CertificateError(
                "key_provider 'files' needs cert_chain_path and private_key_path"
            )
        return FileKeyProvider.open(settings.cert_chain_path, settings.private_key_path)
    if ":" in name:
        return _load_plugin_provider(name, settings)
    raise CertificateError(
        f"unknown key_provider {name!r}; known: 'local', 'files', or 'module:callable'"
    )


def _load_plugin_provider(spec: str, settings: ProvenanceSettings) -> KeyProvider:
    module_name, _, attr = spec.partition(":")
    try:
        factory: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise CertificateError(f"cannot load key provider factory {spec!r}") from exc
    provider = factory(settings)
    if not isinstance(provider, KeyProvider):
        raise CertificateError(f"{spec!r} did not return a KeyProvider")
    return provider


def build_c2pa_signer(provider: KeyProvider) -> Any:
    """A ``c2pa.Signer`` whose signature comes from ``provider.sign`` (callback signer)."""
    import c2pa

    algorithms = {"es256": c2pa.C2paSigningAlg.ES256}
    if provider.algorithm not in algorithms:
        raise CertificateError(f"unsupported signing algorithm {provider.algorithm!r}")
    try:
        return c2pa.Signer.from_callback(
            provider.sign, algorithms[provider.algorithm], provider.certificate_chain_pem(), None
        )
    except c2pa.C2paError as exc:
        raise SigningUnavailableError("the C2PA signer could not be created") from exc


def trust_anchors_pem(settings: ProvenanceSettings, provider: KeyProvider | None) -> str:
    """PEM bundle of trust anchors: configured files plus our own root by default."""
    parts = [path.read_text() for path in settings.trust_anchor_paths]
    if settings.trust_own_root and provider is not None:
        own = provider.own_trust_anchor_pem()
        if own:
            parts.append(own)
    return "\n".join(p.strip() + "\n" for p in parts)


# --- the local chain --------------------------------------------------------------------


def ensure_local_chain(settings: ProvenanceSettings) -> Path:
    """Create root, intermediate and signing certificate if missing; return the dir."""
    keys_dir = _require_keys_dir(settings)
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _locked(keys_dir):
        if not (keys_dir / ROOT_CERT).exists():
            _create_ca_pair(keys_dir, settings)
        if not (keys_dir / CHAIN).exists():
            _issue_signing_certificate(keys_dir, settings)
    return keys_dir


def rotate_signing_certificate(settings: ProvenanceSettings) -> CertificateInfo:
    """Issue a new signing key and certificate under the existing intermediate.

    The root stays, so manifests signed before the rotation still validate as trusted.
    Only the local chain rotates here; a brought or HSM-held key rotates where it lives.
    """
    if settings.key_provider != "local":
        raise CertificateError(
            f"key_provider {settings.key_provider!r} is managed outside the gateway; "
            "rotate it there and update the configured chain"
        )
    keys_dir = ensure_local_chain(settings)
    with _locked(keys_dir):
        _issue_signing_certificate(keys_dir, settings)
    return _describe("signing", keys_dir / SIGNING_CERT)


def show_certificates(settings: ProvenanceSettings) -> tuple[CertificateInfo, ...]:
    """The signing chain in use: for ``local`` root, intermediate and signing certificate
    (created if missing); otherwise the chain the configured provider presents."""
    if settings.key_provider != "local":
        chain_pem = build_key_provider(settings).certificate_chain_pem()
        return _describe_chain(chain_pem.encode(), settings.cert_chain_path)
    keys_dir = ensure_local_chain(settings)
    return tuple(
        _describe(role, keys_dir / name)
        for role, name in (
            ("root", ROOT_CERT),
            ("intermediate", INTERMEDIATE_CERT),
            ("signing", SIGNING_CERT),
        )
    )


def _create_ca_pair(keys_dir: Path, settings: ProvenanceSettings) -> None:
    root_key = _new_key()
    root = _build_ca_cert(
        f"{settings.organization} Root CA", root_key, None, None, settings.ca_validity_days
    )
    inter_key = _new_key()
    inter = _build_ca_cert(
        f"{settings.organization} Intermediate CA",
        inter_key,
        root,
        root_key,
        settings.ca_validity_days,
    )
    write_private(keys_dir / ROOT_KEY, _key_pem(root_key))
    write_private(keys_dir / ROOT_CERT, _cert_pem(root))
    write_private(keys_dir / INTERMEDIATE_KEY, _key_pem(inter_key))
    write_private(keys_dir / INTERMEDIATE_CERT, _cert_pem(inter))


def _issue_signing_certificate(keys_dir: Path, settings: ProvenanceSettings) -> None:
    from cryptography import x509

    inter = x509.load_pem_x509_certificate((keys_dir / INTERMEDIATE_CERT).read_bytes())
    inter_key = _load_ec_private_key((keys_dir / INTERMEDIATE_KEY).read_bytes())
    leaf_key = _new_key()
    leaf = _build_leaf_cert(settings, leaf_key, inter, inter_key)
    write_private(keys_dir / SIGNING_KEY, _key_pem(leaf_key))
    write_private(keys_dir / SIGNING_CERT, _cert_pem(leaf))
    write_private(keys_dir / CHAIN, _cert_pem(leaf) + _cert_pem(inter))


def _build_ca_cert(
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey | None,
    validity_days: int,
) -> x509.Certificate:
    from cryptography import x509

    builder = _base_builder(common_name, key, issuer, validity_days)
    # RFC 5280 §4.2.1.9: the intermediate may only sign end-entity certificates.
    path_length = None if issuer is None else 0
    builder = builder.add_extension(
        x509.BasicConstraints(ca=True, path_length=path_length), critical=True
    ).add_extension(
        x509.KeyUsage(
            digital_signature=False,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )
    return _sign_cert(builder, issuer_key or key)


def _build_leaf_cert(
    settings: ProvenanceSettings,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

    builder = _base_builder(
        f"{settings.organization} C2PA Signer", key, issuer, settings.signing_cert_validity_days
    )
    # C2PA 2.2 §14.5.1 / RECIPES: KeyUsage digitalSignature (critical), explicit EKU,
    # BasicConstraints CA:false, an AuthorityKeyIdentifier (added by _base_builder).
    builder = (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [
                    ExtendedKeyUsageOID.EMAIL_PROTECTION,
                    ObjectIdentifier(_OID_DOCUMENT_SIGNING),
                ]
            ),
            critical=False,
        )
    )
    return _sign_cert(builder, issuer_key)


def _base_builder(
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    validity_days: int,
) -> x509.CertificateBuilder:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, common_name.split(" ")[0]),
        ]
    )
    now = datetime.now(UTC)
    public_key = key.public_key()
    issuer_ski = (
        x509.SubjectKeyIdentifier.from_public_key(public_key)
        if issuer is None
        else issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # A few minutes of back-dating absorbs clock skew between machines.
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=validity_days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
            critical=False,
        )
    )


def _sign_cert(
    builder: x509.CertificateBuilder, issuer_key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    from cryptography.hazmat.primitives import hashes

    return builder.sign(issuer_key, hashes.SHA256())


# --- small helpers ----------------------------------------------------------------------


def _require_keys_dir(settings: ProvenanceSettings) -> Path:
    if settings.keys_dir is None:
        raise CertificateError("provenance.keys_dir is not set")
    return settings.keys_dir


@contextlib.contextmanager
def _locked(keys_dir: Path) -> Iterator[None]:
    # Two processes starting at once must not each create a different root.
    fd = os.open(keys_dir / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _new_key() -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _load_ec_private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as exc:
        raise CertificateError("the private key is not an unencrypted PEM key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise CertificateError("only EC P-256 keys (ES256) are supported")
    return key


def _check_leaf_matches_key(chain_pem: str, key_pem: bytes) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        leaf = x509.load_pem_x509_certificates(chain_pem.encode())[0]
    except (ValueError, IndexError) as exc:
        raise CertificateError("the certificate chain is not PEM") from exc
    key = _load_ec_private_key(key_pem)
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if leaf.public_key().public_bytes(enc, fmt) != key.public_key().public_bytes(enc, fmt):
        raise CertificateError("the private key does not match the first certificate")


def _describe(role: str, path: Path) -> CertificateInfo:
    from cryptography import x509

    return _info(role, x509.load_pem_x509_certificate(path.read_bytes()), path)


def _describe_chain(chain_pem: bytes, path: Path | None) -> tuple[CertificateInfo, ...]:
    from cryptography import x509

    certs = x509.load_pem_x509_certificates(chain_pem)
    roles = ["signing"] + ["intermediate"] * (len(certs) - 1)
    return tuple(_info(role, cert, path) for role, cert in zip(roles, certs, strict=True))


def _info(role: str, cert: x509.Certificate, path: Path | None) -> CertificateInfo:
    from cryptography.hazmat.primitives import hashes

    return CertificateInfo(
        role=role,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial_hex=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256_fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        path=path,
    )
