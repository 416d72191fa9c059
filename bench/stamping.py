"""Stamping latency: our whole chain against invisible-watermark + c2pa-python called directly.

For 512², 1024² and 2048² PNG and JPEG inputs it reports, per stage, the p50 latency of
the gateway's stamper (visible label, watermark, encode, GB 45438 XMP, C2PA) and, in the
same process on the same images, the direct pair with both libraries' defaults:
``imwatermark.WatermarkEncoder`` with ``dwtDctSvd`` (64 bits) and ``c2pa.Builder.sign``
with the default context (thumbnail on). Targets (issue 5): our chain at 1024² no slower
than the direct pair and ≤ 400 ms p50.

    .venv/bin/python bench/stamping.py            # full run, prints the tables
    .venv/bin/python bench/stamping.py --quick    # tiny sizes, one repetition (smoke test)
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common.types import MediaType  # noqa: E402
from provenance.interface import (  # noqa: E402
    GeneratorInfo,
    ModerationSummary,
    StampOptions,
    StampRequest,
)
from provenance.keys import CHAIN, SIGNING_KEY, build_key_provider  # noqa: E402
from provenance.settings import ProvenanceSettings  # noqa: E402
from provenance.stamper import Stamper, build_stamper  # noqa: E402
from provenance.watermark.interface import ImageWatermarker  # noqa: E402

WATERMARK_ID = 0x1234_5678_9ABC
FORMATS = {MediaType.PNG: "PNG", MediaType.JPEG: "JPEG"}
OUR_STAGES = ("decode", "explicit_label", "watermark", "encode", "implicit_label", "c2pa")
DIRECT_STAGES = ("decode", "watermark", "encode", "c2pa")


@dataclass(frozen=True, slots=True)
class Row:
    size_px: int
    media_type: MediaType
    ours_ms: dict[str, float]
    direct_ms: dict[str, float]


def sample_image(size_px: int) -> Any:
    """A real photo (scikit-image's astronaut) scaled to size: codecs behave as in use."""
    from PIL import Image

    try:
        from skimage import data

        photo = Image.fromarray(data.astronaut())  # type: ignore[no-untyped-call]  # untyped
    except ImportError:  # dev extra missing: fall back to a gradient
        photo = Image.linear_gradient("L").convert("RGB")
    return photo.resize((size_px, size_px), Image.Resampling.BICUBIC)


def encoded(image: Any, media_type: MediaType) -> bytes:
    buffer = io.BytesIO()
    image.save(
        buffer, FORMATS[media_type], **({"quality": 90} if media_type is MediaType.JPEG else {})
    )
    return buffer.getvalue()


def load_watermarker() -> tuple[ImageWatermarker, str]:
    try:
        from provenance.watermark import build_watermarker

        marker = build_watermarker(key=b"bench-key-0123456789abcdef012345")
        return marker, marker.name
    except Exception as exc:  # the watermark package is optional for this benchmark
        from provenance.fake import FakeWatermarker

        return FakeWatermarker(), f"fake-lsb (real watermarker unavailable: {exc})"


def time_ours(stamper: Stamper, data: bytes, media_type: MediaType) -> dict[str, float]:
    request = StampRequest(
        data=data,
        media_type=media_type,
        artifact_id="gen_bench",
        content_producer="aigc-gateway",
        generator=GeneratorInfo("tiny-image", "tiny-sd", "bench"),
        moderation=ModerationSummary("allow", "cn-marketing", "1"),
        watermark_id=WATERMARK_ID,
        options=StampOptions(output_media_type=media_type),
    )
    started = time.perf_counter()
    result = stamper.stamp(request)
    total = (time.perf_counter() - started) * 1000
    stages = {str(step.name): step.duration_ms for step in result.steps}
    stages["decode"] = total - sum(stages.values())  # sniffing, validation, decoding
    stages["total"] = total
    return stages


_CREATED = {
    "action": "c2pa.created",
    "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
}


def time_direct(keys_dir: Path, data: bytes, media_type: MediaType) -> dict[str, float]:
    """The direct pair as a user would write it: key PEM in hand, every default kept."""
    import c2pa
    import cv2
    import numpy as np
    from imwatermark import WatermarkEncoder

    chain_pem = (keys_dir / CHAIN).read_bytes()
    key_pem = (keys_dir / SIGNING_KEY).read_bytes()
    stages: dict[str, float] = {}
    clock = _Clock(stages)
    with clock("decode"):
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    with clock("watermark"):
        encoder = WatermarkEncoder()
        encoder.set_watermark("bytes", WATERMARK_ID.to_bytes(8, "big"))
        marked = encoder.encode(bgr, "dwtDctSvd")
    with clock("encode"):
        ok, buffer = cv2.imencode(".png" if media_type is MediaType.PNG else ".jpg", marked)
        assert ok
    with clock("c2pa"):
        manifest = {
            "claim_generator_info": [{"name": "bench", "version": "1"}],
            "assertions": [{"label": "c2pa.actions", "data": {"actions": [_CREATED]}}],
        }
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain_pem, key_pem, None)
        )
        c2pa.Builder(manifest).sign(
            signer, str(media_type), io.BytesIO(buffer.tobytes()), io.BytesIO()
        )
    stages["total"] = sum(stages.values())
    return stages


class _Clock:
    def __init__(self, into: dict[str, float]) -> None:
        self._into = into
        self._name = ""
        self._started = 0.0

    def __call__(self, name: str) -> _Clock:
        self._name = name
        return self

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self._into[self._name] = (time.perf_counter() - self._started) * 1000


def p50(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    keys: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        for key, value in run.items():
            keys[key].append(value)
    return {key: statistics.median(values) for key, values in keys.items()}


def measure(sizes: Sequence[int], repetitions: int, stamper: Stamper, keys_dir: Path) -> list[Row]:
    rows = []
    for size_px in sizes:
        image = sample_image(size_px)
        for media_type in FORMATS:
            data = encoded(image, media_type)
            time_ours(stamper, data, media_type)  # warm-up: fonts, codecs, C2PA context
            time_direct(keys_dir, data, media_type)
            ours, direct = [], []
            # Alternate the two so that load from other processes hits both alike.
            for _ in range(repetitions):
                ours.append(time_ours(stamper, data, media_type))
                direct.append(time_direct(keys_dir, data, media_type))
            rows.append(Row(size_px, media_type, p50(ours), p50(direct)))
    return rows


def render(rows: Sequence[Row], watermarker_name: str, repetitions: int) -> str:
    lines = [
        f"Stamping latency, p50 of {repetitions} run(s) after one warm-up, ms "
        f"(watermarker: {watermarker_name})",
        "",
        "| size | format | " + " | ".join(OUR_STAGES) + " | **ours total** | "
        "direct: " + " | ".join(DIRECT_STAGES) + " | **direct total** | ours / direct |",
        "|" + "---|" * (len(OUR_STAGES) + len(DIRECT_STAGES) + 5),
    ]
    for row in rows:
        ours = " | ".join(f"{row.ours_ms.get(s, 0.0):.1f}" for s in OUR_STAGES)
        direct = " | ".join(f"{row.direct_ms.get(s, 0.0):.1f}" for s in DIRECT_STAGES)
        ratio = row.ours_ms["total"] / row.direct_ms["total"]
        ours_total, direct_total = row.ours_ms["total"], row.direct_ms["total"]
        lines.append(
            f"| {row.size_px}² | {FORMATS[row.media_type]} | {ours} | **{ours_total:.1f}** "
            f"| {direct} | **{direct_total:.1f}** | {ratio:.2f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition")
    parser.add_argument("--repetitions", type=int, default=7)
    args = parser.parse_args(argv)
    sizes = (256,) if args.quick else (512, 1024, 2048)
    repetitions = 1 if args.quick else args.repetitions
    watermarker, watermarker_name = load_watermarker()
    with tempfile.TemporaryDirectory() as keys_dir:
        settings = ProvenanceSettings(keys_dir=Path(keys_dir), max_image_pixels=50_000_000)
        provider = build_key_provider(settings)
        stamper = build_stamper(settings, watermarker, provider)
        rows = measure(sizes, repetitions, stamper, Path(keys_dir))
    out(render(rows, watermarker_name, repetitions))
    return rows


if __name__ == "__main__":
    main()
