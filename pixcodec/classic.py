"""Classical lossless codecs with pinned settings: the yardsticks pixcodec is measured against.

    png     Pillow, optimize=True (zlib level 9 plus filter search)
    webp    Pillow, lossless=True, method=6, quality=100 (slowest, smallest)
    jpegxl  imagecodecs (libjxl), lossless, effort 9, when `pip install -e '.[bench]'` provided it

Every codec takes and returns uint8 arrays (H, W) or (H, W, 3); the bench decodes
every file it writes and checks the pixels, so a codec that is not lossless shows.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class ClassicCodec:
    name: str
    settings: str
    encode: Callable[[np.ndarray, int], bytes]      # (pixels, threads) -> file bytes
    decode: Callable[[bytes, int], np.ndarray]


def _pillow(fmt: str, **options) -> tuple[Callable, Callable]:
    def encode(pixels: np.ndarray, threads: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format=fmt, **options)
        return buf.getvalue()

    def decode(data: bytes, threads: int) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img)

    return encode, decode


def _jpegxl() -> ClassicCodec | None:
    try:
        import imagecodecs
    except ImportError:
        return None
    if not imagecodecs.JPEGXL.available:
        return None
    encode = lambda pixels, threads: imagecodecs.jpegxl_encode(pixels, lossless=True, effort=9,  # noqa: E731
                                                               numthreads=threads)
    decode = lambda data, threads: imagecodecs.jpegxl_decode(data, numthreads=threads)  # noqa: E731
    return ClassicCodec("jpegxl", f"libjxl (imagecodecs {imagecodecs.__version__}), lossless, effort 9",
                        encode, decode)


def available() -> list[ClassicCodec]:
    """The classical codecs this installation can run, PNG and WebP always."""
    codecs = [ClassicCodec("png", "Pillow, optimize=True", *_pillow("PNG", optimize=True)),
              ClassicCodec("webp", "Pillow, lossless, method 6, quality 100",
                           *_pillow("WEBP", lossless=True, method=6, quality=100))]
    jxl = _jpegxl()
    return codecs + ([jxl] if jxl else [])
