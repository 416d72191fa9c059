"""The local chain, rotation, bring-your-own files and the HSM plugin point."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from common.types import MediaType
from provenance.fake import FakeWatermarker
from provenance.interface import (
    C2paState,
    CertificateError,
    SigningUnavailableError,
    StampRequest,
)
from provenance.keys import (
    CHAIN,
    ROOT_CERT,
    SIGNING_CERT,
    SIGNING_KEY,
    KeyProvider,
    build_key_provider,
    ensure_local_chain,
    rotate_signing_certificate,
    show_certificates,
    trust_anchors_pem,
)
from provenance.readback import read_c2pa
from provenance.settings import ProvenanceSettings
from provenance.stamper import Stamper, build_stamper

MakeRequest = Callable[..., StampRequest]


@pytest.fixture
def fresh_settings(tmp_path: Path) -> ProvenanceSettings:
    return ProvenanceSettings(keys_dir=tmp_path / "keys")


def test_first_use_creates_a_private_chain(fresh_settings: ProvenanceSettings) -> None:
    keys_dir = ensure_local_chain(fresh_settings)

    files = sorted(p.name for p in keys_dir.iterdir() if not p.name.startswith("."))
    assert files == sorted(
        [
            *("root.key", "root.pem", "intermediate.key", "intermediate.pem"),
            *("signing.key", "signing.pem", "chain.pem"),
        ]
    )
    for name in files:
        assert stat.S_IMODE((keys_dir / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700


def test_signing_certificate_has_the_c2pa_profile(fresh_settings: ProvenanceSettings) -> None:
    keys_dir = ensure_local_chain(fresh_settings)
    leaf = x509.load_pem_x509_certificate((keys_dir / SIGNING_CERT).read_bytes())

    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    assert ObjectIdentifier("1.3.6.1.5.5.7.3.36") in eku
    assert ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert leaf.issuer != leaf.subject
    chain = x509.load_pem_x509_certificates((keys_dir / CHAIN).read_bytes())
    assert [c.subject for c in chain] == [leaf.subject, leaf.issuer]


def test_second_use_keeps_the_chain(fresh_settings: ProvenanceSettings) -> None:
    first = show_certificates(fresh_settings)
    second = show_certificates(fresh_settings)

    assert [c.sha256_fingerprint for c in first] == [c.sha256_fingerprint for c in second]
    assert [c.role for c in first] == ["root", "intermediate", "signing"]
    shown = first[2].as_dict()
    assert shown["issuer"] == first[1].subject
    assert shown["not_after"] > shown["not_before"]


def test_rotation_keeps_old_manifests_trusted(
    fresh_settings: ProvenanceSettings, make_request: MakeRequest, png_bytes: bytes
) -> None:
    before = build_stamper(fresh_settings, FakeWatermarker())
    anchors = trust_anchors_pem(fresh_settings, before.key_provider)
    old = before.stamp(make_request(png_bytes, MediaType.PNG))
    old_root, _, old_leaf = show_certificates(fresh_settings)

    new_leaf = rotate_signing_certificate(fresh_settings)
    after = build_stamper(fresh_settings, FakeWatermarker())
    new = after.stamp(make_request(png_bytes, MediaType.PNG))

    assert new_leaf.sha256_fingerprint != old_leaf.sha256_fingerprint
    assert show_certificates(fresh_settings)[0].sha256_fingerprint == old_root.sha256_fingerprint
    for result in (old, new):
        reading = read_c2pa(result.data, result.media_type, None, anchors)
        assert reading.state is C2paState.TRUSTED


def test_bring_your_own_chain_and_key(
    settings: ProvenanceSettings,
    key_provider: KeyProvider,
    make_request: MakeRequest,
    png_bytes: bytes,
) -> None:
    assert settings.keys_dir is not None
    own = ProvenanceSettings(
        key_provider="files",
        cert_chain_path=settings.keys_dir / CHAIN,
        private_key_path=settings.keys_dir / SIGNING_KEY,
        trust_anchor_paths=(settings.keys_dir / ROOT_CERT,),
    )
    stamper = build_stamper(own, FakeWatermarker())
    result = stamper.stamp(make_request(png_bytes, MediaType.PNG))

    anchors = trust_anchors_pem(own, stamper.key_provider)
    assert read_c2pa(result.data, result.media_type, None, anchors).state is C2paState.TRUSTED
    assert [c.role for c in show_certificates(own)] == ["signing", "intermediate"]


def test_bring_your_own_key_must_match_the_chain(
    settings: ProvenanceSettings, tmp_path: Path
) -> None:
    assert settings.keys_dir is not None
    other = ensure_local_chain(ProvenanceSettings(keys_dir=tmp_path / "other"))
    mismatched = ProvenanceSettings(
        key_provider="files",
        cert_chain_path=settings.keys_dir / CHAIN,
        private_key_path=other / SIGNING_KEY,
    )
    with pytest.raises(CertificateError, match="does not match"):
        build_key_provider(mismatched)


def test_hsm_plugin_with_raw_signatures_signs_trusted_manifests(
    settings: ProvenanceSettings,
    anchors: str,
    make_request: MakeRequest,
    png_bytes: bytes,
) -> None:
    plugin = settings.model_copy(
        update={"key_provider": "tests.provenance._hsm_provider:make_provider"}
    )
    stamper = build_stamper(plugin, FakeWatermarker())
    result = stamper.stamp(make_request(png_bytes, MediaType.PNG))

    assert getattr(stamper.key_provider, "calls", 0) >= 1
    assert read_c2pa(result.data, result.media_type, None, anchors).state is C2paState.TRUSTED


@pytest.mark.parametrize("name", ["nope", "no.such.module:factory"])
def test_unknown_key_provider_is_a_configuration_error(name: str) -> None:
    with pytest.raises(CertificateError):
        build_key_provider(ProvenanceSettings(key_provider=name))


def test_trust_own_root_can_be_turned_off(
    settings: ProvenanceSettings, key_provider: KeyProvider
) -> None:
    no_own = settings.model_copy(update={"trust_own_root": False})
    assert trust_anchors_pem(no_own, key_provider) == ""
    assert "BEGIN CERTIFICATE" in trust_anchors_pem(settings, key_provider)


class _UnreachableHsm:
    """A KeyProvider whose device is down: every signature request fails."""

    algorithm = "es256"

    def __init__(self, chain_pem: str) -> None:
        self._chain_pem = chain_pem

    def certificate_chain_pem(self) -> str:
        return self._chain_pem

    def sign(self, data: bytes) -> bytes:
        raise ConnectionError("HSM unreachable")

    def own_trust_anchor_pem(self) -> str | None:
        return None


def test_failing_key_provider_is_503(
    settings: ProvenanceSettings,
    key_provider: KeyProvider,
    make_request: MakeRequest,
    png_bytes: bytes,
) -> None:
    provider = _UnreachableHsm(key_provider.certificate_chain_pem())
    stamper = build_stamper(settings, FakeWatermarker(), provider)

    with pytest.raises(SigningUnavailableError) as caught:
        stamper.stamp(make_request(png_bytes, MediaType.PNG))
    assert caught.value.http_status == 503


def test_keys_dir_defaults_under_the_data_dir(tmp_path: Path) -> None:
    resolved = ProvenanceSettings().with_data_dir(tmp_path)
    assert resolved.keys_dir == tmp_path / "keys"
    explicit = ProvenanceSettings(keys_dir=tmp_path / "elsewhere").with_data_dir(tmp_path)
    assert explicit.keys_dir == tmp_path / "elsewhere"


def test_only_the_local_chain_rotates_here(settings: ProvenanceSettings) -> None:
    plugin = settings.model_copy(
        update={"key_provider": "tests.provenance._hsm_provider:make_provider"}
    )
    with pytest.raises(CertificateError, match="managed outside"):
        rotate_signing_certificate(plugin)
    shown = show_certificates(plugin)
    assert [c.role for c in shown] == ["signing", "intermediate"]
    assert shown[0].path is None


class _WrongKeyHsm(_UnreachableHsm):
    """Signs with a key that does not belong to its certificate: a misconfigured HSM."""

    def __init__(self, chain_pem: str) -> None:
        super().__init__(chain_pem)
        from cryptography.hazmat.primitives.asymmetric import ec

        self._key = ec.generate_private_key(ec.SECP256R1())

    def sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))


def _wrong_key_stamper(
    settings: ProvenanceSettings, key_provider: KeyProvider, *, verify_after_sign: str
) -> Stamper:
    """A stamper whose signer holds our certificate but signs with another key."""
    configured = settings.model_copy(update={"c2pa_verify_after_sign": verify_after_sign})
    hsm = _WrongKeyHsm(key_provider.certificate_chain_pem())
    return build_stamper(configured, FakeWatermarker(), hsm)


def test_verify_after_sign_refuses_a_signature_that_does_not_match_its_certificate(
    settings: ProvenanceSettings,
    key_provider: KeyProvider,
    make_request: MakeRequest,
    png_bytes: bytes,
) -> None:
    stamper = _wrong_key_stamper(settings, key_provider, verify_after_sign="always")

    # c2pa-rs reports the failed self-check as a signature error: the signer is unusable.
    with pytest.raises(SigningUnavailableError):
        stamper.stamp(make_request(png_bytes, MediaType.PNG))


def test_without_verify_after_sign_a_bad_signature_is_caught_only_by_reading_back(
    settings: ProvenanceSettings,
    key_provider: KeyProvider,
    anchors: str,
    make_request: MakeRequest,
    png_bytes: bytes,
) -> None:
    stamper = _wrong_key_stamper(settings, key_provider, verify_after_sign="never")
    result = stamper.stamp(make_request(png_bytes, MediaType.PNG))

    assert read_c2pa(result.data, result.media_type, None, anchors).state is C2paState.INVALID


@pytest.mark.parametrize(
    ("provider", "mode", "verifies"),
    [
        ("local", "auto", False),
        ("files", "auto", False),
        ("tests.provenance._hsm_provider:make_provider", "auto", True),
        ("local", "always", True),
        ("tests.provenance._hsm_provider:make_provider", "never", False),
    ],
)
def test_verify_after_sign_is_on_by_default_only_for_plugin_signers(
    provider: str, mode: str, verifies: bool
) -> None:
    settings = ProvenanceSettings(key_provider=provider, c2pa_verify_after_sign=mode)  # type: ignore[arg-type]
    assert settings.verifies_after_sign is verifies
