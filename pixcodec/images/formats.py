"""Decoded images in the format their output name asks for, always losslessly, with the
metadata the format can hold; and the metadata of an input file.

PNG restores everything a PNG input had (``pxc.Original``: depth, alpha, palette). PPM/PGM/PBM,
TIFF, BMP and WebP lossless take 8-bit gray, RGB and 1-bit images; an image whose file kept
more than that is refused for them, never reduced. Lossy formats are refused outright. Every
written image is read back and compared before it is returned.
"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import png
from PIL import Image

from ..errors import PixcodecError
from .pngfile import is_png
from ..pxc import Metadata, Original
from ..pxc.metadata import PNG_CHUNKS

# suffix: (Pillow format, what it keeps of the metadata)
FORMATS = {".png": ("PNG", {"ICC", "EXIF", "XMP", "PNG"}), ".ppm": ("PPM", set()), ".pgm": ("PPM", set()),
           ".pbm": ("PPM", set()), ".pnm": ("PPM", set()), ".tif": ("TIFF", {"ICC"}), ".tiff": ("TIFF", {"ICC"}),
           ".bmp": ("BMP", set()), ".webp": ("WEBP", {"ICC", "EXIF", "XMP"})}
LOSSY = {".jpg", ".jpeg", ".jpe", ".jfif", ".gif", ".avif", ".heic", ".heif", ".jxl", ".jp2", ".j2k"}
PNM_MODES = {".ppm": ("RGB",), ".pgm": ("L",), ".pbm": ("1",), ".pnm": ("L", "RGB", "1")}
MAX_ICC = 1 << 24          # an iCCP's inflated profile beyond 16 MiB is not a profile


def check_suffix(suffix: str) -> None:
    """Refuse, before any work, an output name whose format cannot hold an exact image."""
    suffix = suffix.lower()
    if suffix in LOSSY:
        raise PixcodecError(f"{suffix} is a lossy format: decompress writes .png, .ppm/.pgm/.pbm, .tif, .bmp "
                            "or .webp (lossless)")
    if suffix not in FORMATS:
        raise PixcodecError(f"cannot write {suffix or 'a name without a suffix'}: use .png, .ppm/.pgm/.pbm, .tif, "
                            ".bmp or .webp")


def _pil_image(pixels: np.ndarray, mode: str) -> Image.Image:
    """``pixels`` uint8 (C, H, W) as a PIL image of ``mode``."""
    img = Image.fromarray(pixels.transpose(1, 2, 0) if pixels.shape[0] == 3 else pixels[0],
                          "RGB" if pixels.shape[0] == 3 else "L")
    return img.convert("1") if mode == "1" else img


def encode(pixels: np.ndarray, mode: str, suffix: str, png_of, original: Original | None,
           metadata: Metadata | None) -> tuple[bytes, list[str]]:
    """(file bytes, the names of metadata records the format dropped). ``png_of()`` gives the image
    as a PNG (with its ``original`` restored), asked for only when the output is one."""
    suffix = suffix.lower()
    check_suffix(suffix)
    fmt, keeps = FORMATS[suffix]
    dropped = [n for n in (metadata.names() if metadata else []) if (n if n in ("ICC", "EXIF", "XMP") else "PNG")
               not in keeps]
    if fmt == "PNG":
        data = with_png_metadata(png_of(), metadata)
        read_back_png(data, pixels, original)
        return data, dropped
    if original is not None:
        raise PixcodecError(f"this image came from a PNG with {original.describe_kept()}, which only .png keeps: "
                            "write .png")
    if fmt == "PPM" and mode not in PNM_MODES[suffix]:
        wanted = {"RGB": ".ppm", "L": ".pgm", "1": ".pbm"}[mode]
        raise PixcodecError(f"a {mode} image goes in {wanted} (or .pnm), not {suffix}")
    img = _pil_image(pixels, mode)
    options = {}
    if fmt == "WEBP":
        options = dict(lossless=True, quality=100, method=4, exact=True)
        if mode == "1":
            raise PixcodecError("WebP cannot hold a 1-bit image: write .png, .pbm, .tif or .bmp")
    if metadata is not None and "ICC" in keeps and metadata.icc:
        options["icc_profile"] = metadata.icc
    if metadata is not None and fmt == "WEBP":
        options.update({k: v for k, v in (("exif", metadata.exif), ("xmp", metadata.xmp)) if v})
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    data = buffer.getvalue()
    with Image.open(io.BytesIO(data)) as back:        # the writer's own promise, checked
        same = np.asarray(back.convert(img.mode if fmt != "WEBP" else "RGB"))
        wanted = np.asarray(img.convert("RGB") if fmt == "WEBP" else img)
    if same.shape != wanted.shape or not np.array_equal(same, wanted):
        raise PixcodecError(f"the {fmt} writer did not keep every pixel: write .png instead")
    return data, dropped


def read_back_png(data: bytes, pixels: np.ndarray, original: Original | None) -> None:
    """Refuse a PNG that Pillow, a reader independent of the pypng that writes samples and of
    the code that adds chunks, cannot open, parse chunk by chunk and decode to these pixels
    (C, H, W) uint8: the samples ``original`` restores, or, where Pillow gives 8 bits of 16 or
    scales 2 and 4-bit gray, what it can show of them."""
    want = pixels.transpose(1, 2, 0) if original is None else original.samples(pixels)
    if original is not None and original.color_type == 0 and original.depth in (2, 4):
        want = pixels.transpose(1, 2, 0)                        # Pillow scales them as we code them
    try:
        with Image.open(io.BytesIO(data)) as back:
            back.load()
            got = np.asarray(back)
    except Exception as e:           # whatever the reader raises, the file must not be kept
        raise PixcodecError(f"the PNG written would not read back ({type(e).__name__}: {e}): nothing written") from None
    got = got.reshape(got.shape[0], got.shape[1], -1)
    if got.dtype == np.bool_:
        got, want = got.astype(np.uint8), (want != 0).astype(np.uint8)
    elif got.dtype == np.uint8 and want.dtype == np.uint16:
        want = want >> 8
        if want.shape[2] == 2 and got.shape[2] == 4:            # 16-bit gray + alpha opens as RGBA
            got = got[:, :, [0, 3]] if np.array_equal(got[:, :, 0], got[:, :, 2]) else got
    if got.shape != want.shape or not np.array_equal(got, want):
        raise PixcodecError("the PNG written reads back with other samples: nothing written")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def with_png_metadata(png: bytes, metadata: Metadata | None) -> bytes:
    """The PNG with the metadata's chunks right after IHDR, where every one of them may go."""
    if metadata is None:
        return png
    extra = b""
    if metadata.icc:
        extra += _chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(metadata.icc, 9))
    if metadata.exif:
        extra += _chunk(b"eXIf", metadata.exif)
    if metadata.xmp:
        extra += _chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + metadata.xmp)
    extra += b"".join(_chunk(kind, data) for kind, data in metadata.png_chunks)
    ihdr_end = 8 + 12 + struct.unpack(">I", png[8:12])[0]
    return png[:ihdr_end] + extra + png[ihdr_end:]


def read_metadata(data: bytes, name, dropped: list | None = None) -> Metadata | None:
    """The ICC profile, EXIF, XMP and (of a PNG) the other copyable ancillary chunks of an image
    file. A record that cannot be valid is left out and named, with why, in ``dropped``."""
    if is_png(data[:8]):
        icc = exif = xmp = None
        chunks = []
        for kind, body in png.Reader(bytes=data).chunks():      # read_png has checked every CRC
            if kind == b"iCCP":
                icc = _inflate_icc(body, name)
            elif kind == b"eXIf":
                exif = body
            elif xmp is None and body.startswith(b"XML:com.adobe.xmp\x00") and kind == b"iTXt" and _itxt_text(body):
                xmp = _itxt_text(body)
            elif kind in PNG_CHUNKS:
                chunks.append((kind, body))
        return Metadata.of(icc, exif, xmp, chunks, dropped)
    with Image.open(io.BytesIO(data)) as img:
        info = img.info
        exif = info.get("exif") or None
        if exif and exif.startswith(b"Exif\x00\x00"):            # JPEG's APP1 prefix
            exif = exif[6:]
        xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
        return Metadata.of(info.get("icc_profile") or None, exif, xmp.encode() if isinstance(xmp, str) else xmp,
                           dropped=dropped)


def _inflate_icc(body: bytes, name) -> bytes:
    profile = body[body.index(b"\x00") + 2:] if b"\x00" in body[:80] else b""
    d = zlib.decompressobj()
    try:
        icc = d.decompress(profile, MAX_ICC)
    except zlib.error:
        raise PixcodecError(f"{name}: a corrupt ICC profile (iCCP chunk)") from None
    if d.unconsumed_tail:
        raise PixcodecError(f"{name}: an ICC profile larger than 16 MiB")
    return icc


def _itxt_text(body: bytes) -> bytes | None:
    """An iTXt chunk's text, or None for a malformed one (then kept as a chunk, byte for byte)."""
    try:
        return _itxt_fields(body)
    except (ValueError, IndexError, zlib.error):
        return None


def _itxt_fields(body: bytes) -> bytes:
    keyword_end = body.index(b"\x00")
    compressed = body[keyword_end + 1]
    rest = body[keyword_end + 3:]
    rest = rest[rest.index(b"\x00") + 1:]           # language tag
    text = rest[rest.index(b"\x00") + 1:]           # translated keyword
    return zlib.decompressobj().decompress(text, MAX_ICC) if compressed else text
