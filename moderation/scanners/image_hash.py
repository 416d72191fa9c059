"""Perceptual-hash image scanner: matches an image against a tenant's registered images.

Each registered image (brand asset, copyrighted work, banned image, previously rejected
output) is stored as two 64-bit perceptual hashes (imagehash pHash and dHash). An image
matches an entry when both Hamming distances are at most the configured threshold,
which survives re-encoding, rescaling and small edits while keeping false matches rare::

    hashes = compute_hashes(png_bytes)            # ImageHashes(phash="c3...", dhash="8f...")
    scanner = ImageHashScanner(max_distance=10)
    scanner.scan_image(jpeg_of_same_picture, registry)
    # [Finding("image_hash", "image_match.banned", 0.97, None,
    #          "logo-v2 (entry 3, pHash 2, dHash 4)")]
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from moderation.interface import Finding, ImageHashEntry, NotAnImageError

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["ImageHashScanner", "ImageHashes", "compute_hashes", "hamming_distance"]

_HASH_BITS = 64


@dataclass(frozen=True, slots=True)
class ImageHashes:
    phash: str  # 16 lowercase hex digits
    dhash: str


def compute_hashes(data: bytes) -> ImageHashes:
    """pHash and dHash of encoded image bytes; ``NotAnImageError`` when not decodable."""
    import imagehash

    image = _decode(data)
    return ImageHashes(phash=str(imagehash.phash(image)), dhash=str(imagehash.dhash(image)))


def hamming_distance(first_hex: str, second_hex: str) -> int:
    return (int(first_hex, 16) ^ int(second_hex, 16)).bit_count()


class ImageHashScanner:
    """The ``image_hash`` scanner."""

    name = "image_hash"

    def __init__(self, max_distance: int = 10) -> None:
        self.max_distance = max_distance
        self.version = f"phash+dhash,max_distance={max_distance}"

    def scan_image(self, data: bytes, registry: Sequence[ImageHashEntry]) -> list[Finding]:
        hashes = compute_hashes(data)
        findings = [self._match(hashes, entry) for entry in registry]
        return sorted(
            (finding for finding in findings if finding is not None),
            key=lambda finding: -finding.score,
        )

    def _match(self, hashes: ImageHashes, entry: ImageHashEntry) -> Finding | None:
        phash_distance = hamming_distance(hashes.phash, entry.phash)
        dhash_distance = hamming_distance(hashes.dhash, entry.dhash)
        if max(phash_distance, dhash_distance) > self.max_distance:
            return None
        return Finding(
            scanner=self.name,
            category=f"image_match.{entry.kind}",
            score=round(1.0 - (phash_distance + dhash_distance) / (2 * _HASH_BITS), 4),
            evidence=(
                f"{entry.label} (entry {entry.entry_id}, pHash {phash_distance}, "
                f"dHash {dhash_distance})"
            ),
        )


def _decode(data: bytes) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise NotAnImageError("the content is not a decodable image") from exc
    return image
