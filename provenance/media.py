"""Sniff what the bytes are and open them safely before anything is stamped.

The type comes from the bytes, never from a file name; a declared type that disagrees is
a 415, broken bytes a 422 and a decompression bomb a 413 — checked on the declared
dimensions before a single pixel is decoded::

    media = open_media(data, declared=MediaType.PNG, max_bytes=64 << 20,
                       max_image_pixels=40_000_000)
    media.media_type, media.image.size
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.types import MediaType
from provenance.glb import GLB_MAGIC, GlbDocument, parse_glb
from provenance.interface import InvalidMediaError, MediaTooLargeError, UnsupportedMediaError

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "IMAGE_TYPES",
    "TEXT_TYPES",
    "OpenedMedia",
    "declared_image_size",
    "declared_media_type",
    "normalise_mode",
    "open_media",
    "sniff_media_type",
]

IMAGE_TYPES = frozenset({MediaType.PNG, MediaType.JPEG, MediaType.WEBP})
TEXT_TYPES = frozenset({MediaType.TEXT, MediaType.MARKDOWN})
_PIL_FORMATS = {MediaType.PNG: "PNG", MediaType.JPEG: "JPEG", MediaType.WEBP: "WEBP"}


@dataclass(frozen=True, slots=True)
class OpenedMedia:
    media_type: MediaType
    size_bytes: int
    image: Image.Image | None = None  # decoded, RGB or RGBA
    text: str | None = None
    glb: GlbDocument | None = None


def declared_media_type(content_type: str | None) -> MediaType | None:
    """An upload's Content-Type as a hint for reading: one of our types, or ``None`` —
    "sniff the bytes" — for a missing, generic or unknown one.

    Lenient: a verifier reads whatever it is handed, and a browser's guess at a file's
    type is no reason to refuse it. A declaration that
    names one of our types still has to agree with the bytes (``open_media``)::

        declared_media_type("image/jpg; q=1")            # MediaType.JPEG
        declared_media_type("application/octet-stream")  # None
    """
    return MediaType.parse(content_type)


def sniff_media_type(data: bytes) -> MediaType | None:
    """The type the magic bytes announce; text is UTF-8 without NUL bytes."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaType.PNG
    if data.startswith(b"\xff\xd8\xff"):
        return MediaType.JPEG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return MediaType.WEBP
    if data.startswith(GLB_MAGIC):
        return MediaType.GLB
    if _looks_like_text(data):
        return MediaType.TEXT
    return None


def open_media(
    data: bytes,
    declared: MediaType | None,
    *,
    max_bytes: int,
    max_image_pixels: int,
    reduce_to_side_px: int | None = None,
) -> OpenedMedia:
    """Check the bytes against the declared type and decode them, or raise a 4xx error.

    With ``reduce_to_side_px`` an image is decoded downscaled by an integer factor that
    keeps its shorter side at least that long — for readers that work at a reduced scale
    anyway (the watermark detector), never for stamping or pixel hashes.
    """
    if len(data) > max_bytes:
        raise MediaTooLargeError(f"input is {len(data)} bytes; the limit is {max_bytes}")
    if not data.strip():
        raise InvalidMediaError("input is empty")
    media_type = _resolve_type(sniff_media_type(data), declared)
    if media_type in IMAGE_TYPES:
        image = _decode_image(data, media_type, max_image_pixels, reduce_to_side_px)
        return OpenedMedia(media_type, len(data), image=image)
    if media_type is MediaType.GLB:
        return OpenedMedia(media_type, len(data), glb=parse_glb(data))
    return OpenedMedia(media_type, len(data), text=_decode_text(data))


def _resolve_type(sniffed: MediaType | None, declared: MediaType | None) -> MediaType:
    if sniffed is None:
        raise UnsupportedMediaError(
            "the bytes are not PNG, JPEG, WebP, GLB or UTF-8 text",
            details={"declared": declared},
        )
    if declared is None:
        return sniffed
    # Markdown cannot be told from plain text by its bytes: the declaration decides.
    if sniffed is MediaType.TEXT and declared in TEXT_TYPES:
        return declared
    if sniffed is not declared:
        raise UnsupportedMediaError(
            f"declared {declared} but the bytes are {sniffed}",
            details={"declared": str(declared), "sniffed": str(sniffed)},
        )
    return sniffed


def declared_image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG or WebP header without decoding a pixel; ``None``
    for anything else (or a header too broken to say)."""
    from PIL import Image

    media_type = sniff_media_type(data)
    if media_type not in IMAGE_TYPES:
        return None
    try:
        with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[media_type]]) as image:
            return image.size
    except Image.DecompressionBombError:
        return None  # the decoder's own limits answer it (413)
    except (OSError, SyntaxError, ValueError):
        return None


def _decode_image(
    data: bytes, media_type: MediaType, max_image_pixels: int, reduce_to_side_px: int | None
) -> Image.Image:
    from PIL import Image, ImageOps

    try:
        # Opening reads only the header; Pillow's own bomb check fires at 2x its limit.
        image: Image.Image = Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[media_type]])
    except Image.DecompressionBombError as exc:
        raise MediaTooLargeError("declared image size is a decompression bomb") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidMediaError(f"corrupt {media_type} header") from exc
    width, height = image.size
    if width * height > max_image_pixels:
        raise MediaTooLargeError(
            f"declared {width}x{height} exceeds {max_image_pixels} pixels",
            details={"width_px": width, "height_px": height},
        )
    try:
        if reduce_to_side_px:
            image = _load_reduced(image, reduce_to_side_px)
        else:
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidMediaError(f"truncated or corrupt {media_type} data") from exc
    # Stamped files carry no EXIF: bake the orientation in so the picture looks the same.
    return normalise_mode(ImageOps.exif_transpose(image))


# Modes Image.reduce accepts; others (palette, 16-bit) are converted first.
_REDUCIBLE_MODES = frozenset({"L", "LA", "RGB", "RGBA"})


def _reduce_factor(size: tuple[int, int], side_px: int) -> int:
    return max(1, min(size) // side_px)


def _load_reduced(image: Image.Image, side_px: int) -> Image.Image:
    """Decode ``image`` downscaled so its shorter side stays at least ``side_px``.

    JPEG decodes at 1/2, 1/4 or 1/8 scale straight from the DCT (``draft``): the full
    size is never allocated. Other formats decode whole, once, in their own mode (a grey
    PNG stays one byte a pixel) and are box-reduced before any conversion copies them.
    """
    factor = _reduce_factor(image.size, side_px)
    if factor > 1 and image.format == "JPEG":
        width, height = image.size
        image.draft(image.mode, (width // factor, height // factor))
    image.load()
    factor = _reduce_factor(image.size, side_px)
    if factor == 1:
        return image
    if image.mode not in _REDUCIBLE_MODES:
        image = normalise_mode(image)
    return image.reduce(factor)


def normalise_mode(image: Image.Image) -> Image.Image:
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    target = "RGBA" if has_alpha else "RGB"
    return image if image.mode == target else image.convert(target)


def _looks_like_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decode_text(data: bytes) -> str:
    text = data.decode("utf-8")
    # A leading BOM would hide Markdown front matter and is not part of the content.
    return text.removeprefix("\ufeff")
