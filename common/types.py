"""Value types every domain agrees on: content kinds, media types, ids.

>>> ContentKind("image")
<ContentKind.IMAGE: 'image'>
"""

from __future__ import annotations

from enum import StrEnum
from typing import NewType

__all__ = ["ContentKind", "GenerationId", "MediaType", "TenantId"]

TenantId = NewType("TenantId", str)
GenerationId = NewType("GenerationId", str)


class ContentKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    MODEL3D = "model3d"


class MediaType(StrEnum):
    PNG = "image/png"
    JPEG = "image/jpeg"
    WEBP = "image/webp"
    GLB = "model/gltf-binary"
    TEXT = "text/plain"
    MARKDOWN = "text/markdown"
