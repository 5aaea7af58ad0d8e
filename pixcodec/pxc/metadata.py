"""The ``metadata`` section: what an image file says about its pixels, kept beside them.

A colour profile changes what the pixels mean; EXIF and XMP say where and how they were
made. cjxl and cwebp keep them, and so does pixcodec: the ICC profile, EXIF and XMP of any
input, and a PNG's other ancillary chunks that are safe to copy (colour, physical size, time,
text), byte for byte. Writing a decoded image puts back what its format can hold
(image_formats.py says what it drops).

Bytes: u8 record count (1 to 255), then per record u8 kind, u32 length, the bytes. ICC, EXIF
and XMP appear at most once each; a PNG chunk record is its 4-byte type, then its data.
Nothing is compressed, so a record costs exactly the bytes it holds.
"""
from __future__ import annotations

import struct

from ..errors import PixcodecError
from .sections import Frame, Reader, Section

FLAG_METADATA = 512
ICC, EXIF, XMP, PNG_CHUNK = 1, 2, 3, 4
# Ancillary chunks whose meaning survives any re-encoding of the same 8-bit pixels: no palette,
# transparency or bit-depth chunks (``pxc.Original`` keeps those exactly), no iCCP or eXIf
# (the ICC and EXIF records), nothing unknown.
PNG_CHUNKS = (b"cHRM", b"gAMA", b"sRGB", b"pHYs", b"tIME", b"tEXt", b"zTXt", b"iTXt", b"cICP", b"mDCV", b"cLLI")
CORRUPT = "corrupt .pxc header: a metadata section that does not parse"


class Metadata(Section):
    flag, key, title = FLAG_METADATA, "metadata", "metadata"

    def __init__(self, icc: bytes | None = None, exif: bytes | None = None, xmp: bytes | None = None,
                 png_chunks: tuple[tuple[bytes, bytes], ...] = ()):
        self.icc, self.exif, self.xmp = icc, exif, xmp
        self.png_chunks = tuple(png_chunks)          # ((type, data), ...) in the source's order

    @classmethod
    def of(cls, icc=None, exif=None, xmp=None, png_chunks=()) -> "Metadata | None":
        """The section, or None when there is nothing to keep (empty records are nothing)."""
        chunks = tuple((t, d) for t, d in png_chunks if t in PNG_CHUNKS)
        section = cls(icc or None, exif or None, xmp or None, chunks[:255 - 3])
        return section if section.records() else None

    def records(self) -> list[tuple[int, bytes]]:
        found = [(kind, data) for kind, data in ((ICC, self.icc), (EXIF, self.exif), (XMP, self.xmp)) if data]
        return found + [(PNG_CHUNK, t + d) for t, d in self.png_chunks]

    def write(self, frame: Frame) -> bytes:
        records = self.records()
        return bytes([len(records)]) + b"".join(struct.pack("<BI", k, len(d)) + d for k, d in records)

    @classmethod
    def read(cls, reader: Reader, frame: Frame) -> "Metadata":
        count = reader.take(1)[0]
        if count == 0:
            raise PixcodecError(CORRUPT)
        fields, chunks = {}, []
        for _ in range(count):
            kind, length = struct.unpack("<BI", reader.take(5))
            data = reader.take(length)          # checked against the bytes present, then copied
            if kind == PNG_CHUNK:
                if length < 4 or data[:4] not in PNG_CHUNKS:
                    raise PixcodecError(CORRUPT)
                chunks.append((data[:4], data[4:]))
            elif kind in (ICC, EXIF, XMP) and kind not in fields and length:
                fields[kind] = data
            else:
                raise PixcodecError(CORRUPT)
        return cls(fields.get(ICC), fields.get(EXIF), fields.get(XMP), tuple(chunks))

    def names(self) -> list[str]:
        found = [name for name, data in (("ICC", self.icc), ("EXIF", self.exif), ("XMP", self.xmp)) if data]
        return found + [t.decode("ascii") for t, _ in self.png_chunks]

    @classmethod
    def describe(cls, section, stream_lengths):
        return {"metadata": section.names() if section else []}
