"""Verification latency: the gateway's full verify against c2pa-python's ``Reader`` alone.

For 512², 1024² and 2048² JPEG files stamped by the real stamper (label, tiled watermark,
GB 45438 XMP, C2PA) and ledgered in a real Merkle ledger (SQLite in a temporary
directory), it reports p50/p99 of:

- ``full verify``: ``Verifier.verify_file`` on the stamped file — C2PA validation with our
  trust anchors, both labels, the watermark, ledger lookup, inclusion proof, custody;
- ``stripped``: the same pixels re-saved without metadata (JPEG 90) — the watermark path
  (decode, ledger by watermark id, proof, recovered manifest re-validated);
- ``c2pa Reader``: ``c2pa.Reader`` with the same trust anchors on the same two files
  (validation state and JSON only; on the stripped file it can only say "no manifest").

Target (issue 7): full verify of a 1024² file ≤ 250 ms p50 on this machine::

    .venv/bin/python bench/verify.py            # full run, prints the table
    .venv/bin/python bench/verify.py --quick    # one tiny size, two repetitions (smoke test)
"""

from __future__ import annotations

import argparse
import io
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common.types import MediaType  # noqa: E402
from gateway.verification import (  # noqa: E402
    ProvenanceSignalReaders,
    StoredArtifact,
    Verifier,
    watermark_id_text,
)
from provenance.interface import (  # noqa: E402
    GeneratorInfo,
    ModerationSummary,
    StampOptions,
    StampRequest,
)

TARGET_SIZE_PX = 1024
TARGET_P50_MS = 250.0
FULL_SIZES = (512, 1024, 2048)
QUICK_SIZES = (256,)
WATERMARK_KEY = b"bench-verify-watermark-key-32-by"


@dataclass(frozen=True, slots=True)
class Row:
    size_px: int
    case: str  # "full verify" | "stripped"
    verdict: str
    ours_p50_ms: float
    ours_p99_ms: float
    reader_p50_ms: float
    reader_p99_ms: float


class DictCatalog:
    """The gateway's artifact catalog, in a dict (the bench has no gateway database)."""

    def __init__(self) -> None:
        self.items: list[StoredArtifact] = []

    def _find(self, name: str, value: str) -> StoredArtifact | None:
        return next((a for a in reversed(self.items) if getattr(a, name) == value), None)

    def by_sha256(self, sha256: str) -> StoredArtifact | None:
        return self._find("artifact_sha256", sha256)

    def by_generation_id(self, generation_id: str) -> StoredArtifact | None:
        return self._find("generation_id", generation_id)

    def by_watermark_id(self, watermark_id: str) -> StoredArtifact | None:
        return self._find("watermark_id", watermark_id)

    def by_manifest_label(self, manifest_label: str) -> StoredArtifact | None:
        return self._find("manifest_label", manifest_label)


@dataclass
class Bench:
    verifier: Verifier
    stamper: Any
    ledger: Any
    catalog: DictCatalog
    anchors: str

    def publish(self, data: bytes, generation_id: str) -> bytes:
        from ledger.interface import EventRecord, EventType

        result = self.stamper.stamp(
            StampRequest(
                data=data,
                media_type=MediaType.PNG,
                artifact_id=generation_id,
                content_producer="aigc-gateway",
                generator=GeneratorInfo("tiny-image", "tiny-sd", "bench"),
                moderation=ModerationSummary("allow", "cn-marketing", "bench"),
                options=StampOptions(output_media_type=MediaType.JPEG),
            )
        )
        wid = watermark_id_text(result.watermark_id) if result.watermark_id is not None else None
        self.ledger.append(
            EventRecord(
                type=EventType.STAMP,
                generation_id=generation_id,
                tenant="bench",
                actor="bench",
                time="2026-11-23T00:00:00Z",
                artifact_sha256=result.sha256,
                manifest_hash=result.manifest_hash,
                watermark_id=wid,
                decision="released",
            )
        )
        self.catalog.items.append(
            StoredArtifact(
                generation_id=generation_id,
                media_type=str(result.media_type),
                artifact_sha256=result.sha256,
                manifest_label=result.manifest_label,
                manifest_bytes=result.manifest_bytes,
                original=result.data,
                watermark_id=wid,
            )
        )
        data_out: bytes = result.data
        return data_out


def build_bench(work_dir: Path) -> Bench:
    import sqlalchemy as sa
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.checkpoint import NoteSigner
    from ledger.models import create_tables
    from ledger.service import Ledger
    from ledger.settings import LedgerSettings
    from provenance.keys import build_key_provider, trust_anchors_pem
    from provenance.settings import ProvenanceSettings
    from provenance.stamper import build_stamper
    from provenance.watermark import build_watermarker

    engine = sa.create_engine(f"sqlite:///{work_dir / 'ledger.db'}")
    create_tables(engine)
    settings = ProvenanceSettings(keys_dir=work_dir / "keys")
    provider = build_key_provider(settings)
    anchors = trust_anchors_pem(settings, provider)
    watermarker = build_watermarker("tiled-ss", key=WATERMARK_KEY)
    origin = LedgerSettings().origin
    ledger = Ledger(engine, NoteSigner(origin, Ed25519PrivateKey.generate()), LedgerSettings())
    catalog = DictCatalog()
    verifier = Verifier(ProvenanceSignalReaders(anchors, watermarker), ledger, catalog)
    return Bench(verifier, build_stamper(settings, watermarker, provider), ledger, catalog, anchors)


def sample_png(size_px: int) -> bytes:
    """A real photo (scikit-image's astronaut) scaled to size: codecs behave as in use."""
    from PIL import Image
    from skimage import data

    pixels = data.astronaut()  # type: ignore[no-untyped-call]  # scikit-image is untyped
    photo = Image.fromarray(pixels).resize((size_px, size_px), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    photo.save(buffer, "PNG")
    return buffer.getvalue()


def stripped_jpeg(data: bytes) -> bytes:
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB")
    pixels_only = Image.frombytes("RGB", image.size, image.tobytes())
    buffer = io.BytesIO()
    pixels_only.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def reader_alone(anchors: str) -> Callable[[bytes], str]:
    """c2pa-python's Reader with our trust anchors: state and JSON, nothing else."""
    import c2pa

    context = c2pa.Context(c2pa.Settings.from_dict({"trust": {"trust_anchors": anchors}}))

    def read(data: bytes) -> str:
        try:
            with c2pa.Reader("image/jpeg", io.BytesIO(data), context=context) as reader:
                reader.json()
                return str(reader.get_validation_state())
        except c2pa.C2paError.ManifestNotFound:
            return "absent"

    return read


def timed_ms(call: Callable[[], object], repetitions: int) -> tuple[list[float], object]:
    call()  # warm-up: caches, lazy imports
    samples: list[float] = []
    result: object = None
    for _ in range(repetitions):
        started = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples, result


def p50_p99(samples: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99_index = min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))
    return statistics.median(ordered), ordered[p99_index]


def measure(bench: Bench, size_px: int, repetitions: int) -> list[Row]:
    generation_id = f"gen_bench_{size_px}_{secrets.token_hex(4)}"
    stamped = bench.publish(sample_png(size_px), generation_id)
    read = reader_alone(bench.anchors)
    rows = []
    for case, data in (("full verify", stamped), ("stripped", stripped_jpeg(stamped))):
        verify = partial(bench.verifier.verify_file, data, "image/jpeg")
        ours, report = timed_ms(verify, repetitions)
        theirs, _ = timed_ms(partial(read, data), repetitions)
        rows.append(
            Row(
                size_px=size_px,
                case=case,
                verdict=str(getattr(report, "verdict", "?")),
                ours_p50_ms=p50_p99(ours)[0],
                ours_p99_ms=p50_p99(ours)[1],
                reader_p50_ms=p50_p99(theirs)[0],
                reader_p99_ms=p50_p99(theirs)[1],
            )
        )
    return rows


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| size | file | verdict | ours p50 ms | ours p99 ms | c2pa Reader p50 ms | "
        "c2pa Reader p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    lines.extend(
        f"| {r.size_px}² | {r.case} | {r.verdict} | {r.ours_p50_ms:.1f} | {r.ours_p99_ms:.1f} | "
        f"{r.reader_p50_ms:.1f} | {r.reader_p99_ms:.1f} |"
        for r in rows
    )
    return "\n".join(lines)


def target_line(rows: Sequence[Row]) -> str:
    at_target = [r for r in rows if r.size_px == TARGET_SIZE_PX and r.case == "full verify"]
    if not at_target:
        return f"target: {TARGET_SIZE_PX}² full verify ≤ {TARGET_P50_MS:.0f} ms p50 (not measured)"
    p50 = at_target[0].ours_p50_ms
    status = "met" if p50 <= TARGET_P50_MS else "MISSED"
    return (
        f"target: {TARGET_SIZE_PX}² full verify p50 {p50:.1f} ms ≤ {TARGET_P50_MS:.0f} ms: {status}"
    )


def main(argv: Sequence[str] | None = None, out: Callable[[str], object] = print) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one tiny size, two repetitions")
    parser.add_argument("--repetitions", type=int, default=21)
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    repetitions = 2 if args.quick else args.repetitions
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as work:
        bench = build_bench(Path(work))
        rows = [row for size in sizes for row in measure(bench, size, repetitions)]
        bench.ledger._engine.dispose()
    out(table(rows))
    out(target_line(rows))
    return rows


if __name__ == "__main__":
    main()
