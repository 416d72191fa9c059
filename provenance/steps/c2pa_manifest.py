"""Step ``c2pa``: sign the manifest over the final bytes (hard binding), last of all.

Images carry the manifest store embedded; text, Markdown and GLB have no c2pa-rs
handler, so they get a sidecar ``.c2pa`` (``Builder.set_no_embed()``), whose hash
binding still covers every byte of the released file (RECIPES: sidecars)::

    step = C2paStep(key_provider, settings)
"""

from __future__ import annotations

import io
from typing import Any

from provenance.interface import SigningUnavailableError, StampingError, StepName
from provenance.keys import KeyProvider, build_c2pa_signer
from provenance.manifest import build_manifest_definition
from provenance.settings import ProvenanceSettings
from provenance.steps.base import StampWork, StepOutcome, StepPhase

__all__ = ["C2paStep"]


class C2paStep:
    name = StepName.C2PA
    phase = StepPhase.SIGNING

    def __init__(self, key_provider: KeyProvider, settings: ProvenanceSettings) -> None:
        self._key_provider = key_provider
        self._settings = settings
        self._context: Any = None

    def apply(self, work: StampWork) -> StepOutcome:
        import c2pa

        definition = build_manifest_definition(
            work.request,
            work.media_type,
            watermark_id=work.watermark_id,
            implicit_label=work.implicit_label,
            claim_generator=(
                self._settings.claim_generator,
                self._settings.claim_generator_version,
            ),
        )
        source = work.output_bytes()
        embed = work.is_image
        try:
            signed, manifest = self._sign(definition, str(work.media_type), source, embed)
        except c2pa.C2paError as exc:
            raise StampingError("C2PA signing failed") from exc
        work.manifest_label = str(definition["label"])
        work.manifest_bytes, work.manifest_embedded = manifest, embed
        if embed:
            work.encoded = signed
        where = "embedded" if embed else "sidecar .c2pa"
        return StepOutcome.done(f"{where} manifest {work.manifest_label}, {len(manifest)} bytes")

    def _sign(
        self, definition: dict[str, Any], mime: str, source: bytes, embed: bool
    ) -> tuple[bytes, bytes]:
        import c2pa

        builder = c2pa.Builder(definition, context=self._builder_context())
        if not embed:
            builder.set_no_embed()
        signer = build_c2pa_signer(self._key_provider)
        destination = io.BytesIO()
        try:
            manifest: bytes = builder.sign(signer, mime, io.BytesIO(source), destination)
        except c2pa.C2paError.Signature as exc:
            raise SigningUnavailableError("the key provider could not sign") from exc
        return destination.getvalue(), manifest

    def _builder_context(self) -> Any:
        import c2pa

        if self._context is None:
            thumbnail = {"enabled": self._settings.c2pa_thumbnail}
            verify = {"verify_after_sign": self._settings.verifies_after_sign}
            self._context = c2pa.Context(
                c2pa.Settings.from_dict({"builder": {"thumbnail": thumbnail}, "verify": verify})
            )
        return self._context
