"""A stand-in HSM for the KeyProvider plugin test: the key never leaves this object and
signatures come back as raw r‖s (what PKCS#11 and most cloud KMSs return)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from provenance.keys import CHAIN, SIGNING_KEY
from provenance.settings import ProvenanceSettings


class RawSignatureHsm:
    algorithm = "es256"

    def __init__(self, key: ec.EllipticCurvePrivateKey, chain_pem: str) -> None:
        self._key = key
        self._chain_pem = chain_pem
        self.calls = 0

    def certificate_chain_pem(self) -> str:
        return self._chain_pem

    def sign(self, data: bytes) -> bytes:
        self.calls += 1
        r, s = decode_dss_signature(self._key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def own_trust_anchor_pem(self) -> str | None:
        return None


def make_provider(settings: ProvenanceSettings) -> RawSignatureHsm:
    """Factory named in settings as ``tests.provenance._hsm_provider:make_provider``."""
    from cryptography.hazmat.primitives import serialization

    assert settings.keys_dir is not None
    key = serialization.load_pem_private_key(
        (settings.keys_dir / SIGNING_KEY).read_bytes(), password=None
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return RawSignatureHsm(key, (settings.keys_dir / CHAIN).read_text())
