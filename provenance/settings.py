"""Settings for the ``provenance`` section (``AIGC_PROVENANCE__*``).

``gateway.settings.Settings`` nests this model; nothing here reads the environment::

    settings = ProvenanceSettings(keys_dir=data_dir / "keys")
    stamper = build_stamper(settings, watermarker)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from provenance.interface import StepName

__all__ = ["ProvenanceSettings"]


class ProvenanceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- keys and certificates (RECIPES: certificate profile) ---------------------------
    # Where the local root → intermediate → signing chain lives; the gateway sets it to
    # ``$AIGC_DATA_DIR/keys`` when left empty.
    keys_dir: Path | None = None
    # "local" (auto-created chain), "files" (bring your own), or "module:callable" for
    # an HSM/KMS factory taking these settings and returning a KeyProvider.
    key_provider: str = "local"
    cert_chain_path: Path | None = None  # "files": leaf first, then intermediates (PEM)
    private_key_path: Path | None = None  # "files": PKCS#8 PEM, EC P-256
    organization: str = "aigc-gateway"
    signing_cert_validity_days: int = Field(default=365, ge=1)
    ca_validity_days: int = Field(default=3650, ge=1)
    # Extra PEM files trusted when validating; our own root is added unless disabled.
    trust_anchor_paths: tuple[Path, ...] = ()
    trust_own_root: bool = True

    # --- input validation ---------------------------------------------------------------
    max_input_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    # Pillow's MAX_IMAGE_PIXELS, checked against the declared size before decoding.
    max_image_pixels: int = Field(default=40_000_000, ge=1)

    # --- stamping -----------------------------------------------------------------------
    steps: tuple[StepName, ...] = (
        StepName.EXPLICIT_LABEL,
        StepName.WATERMARK,
        StepName.IMPLICIT_LABEL,
        StepName.C2PA,
    )
    # GB 45438 (secondary): glyph height ≥ 5 % of the shorter side; 6 % leaves margin.
    label_height_fraction: float = Field(default=0.06, ge=0.05, le=0.5)
    font_path: Path | None = None  # None: Noto Sans CJK from manimgx-fonts-cjk
    watermark_min_side_px: int = Field(default=256, ge=1)
    png_compress_level: int = Field(default=1, ge=0, le=9)
    jpeg_quality: int = Field(default=92, ge=1, le=100)
    webp_quality: int = Field(default=90, ge=1, le=100)
    claim_generator: str = "aigc-gateway"
    claim_generator_version: str = "0.1.0"
    c2pa_thumbnail: bool = False  # RECIPES: the thumbnail dominates signing cost
    # c2pa-rs can re-read and validate every manifest it has just signed (1–2 ms per
    # text sidecar, more per image). "auto" does so only for plugin (HSM/KMS) signers,
    # whose signatures come from outside; the local and "files" keys are checked
    # against their certificate when loaded, and the suite validates what they sign.
    c2pa_verify_after_sign: Literal["auto", "always", "never"] = "auto"

    @property
    def verifies_after_sign(self) -> bool:
        if self.c2pa_verify_after_sign == "auto":
            return self.key_provider not in ("local", "files")
        return self.c2pa_verify_after_sign == "always"

    def with_data_dir(self, data_dir: Path) -> ProvenanceSettings:
        """A copy whose unset ``keys_dir`` becomes ``data_dir / "keys"`` (contract default)."""
        if self.keys_dir is not None:
            return self
        return self.model_copy(update={"keys_dir": data_dir / "keys"})
