"""The ``metadata`` section: what an image file says about its pixels, kept beside them.

A colour profile changes what the pixels mean; EXIF and XMP say where and how they were
made. cjxl and cwebp keep them, and so does pixcodec: the ICC profile, EXIF and XMP of any
input, and a PNG's other ancillary chunks that are safe to copy (colour, physical size, time,
text), byte for byte. Writing a decoded image puts back what its format can hold
(images/formats.py says what it drops).

Bytes: u8 record count (1 to 255), then per record u8 kind, u32 length, the bytes. ICC, EXIF
and XMP appear at most once each; a PNG chunk record is its 4-byte type, then its data.
Nothing is compressed, so a record costs exactly the bytes it holds.

Every record is checked against its own format (``problem``) both ways: the encoder drops one
that cannot be valid, with a warning that names it, and the reader refuses a file holding one,
so a decoded image never carries a chunk that the next program cannot read.
"""
from __future__ import annotations

import codecs
import struct
import zlib

from ..errors import PixcodecError
from .sections import Frame, Reader, Section

FLAG_METADATA = 512
ICC, EXIF, XMP, PNG_CHUNK = 1, 2, 3, 4
NAMES = {ICC: "ICC", EXIF: "EXIF", XMP: "XMP"}
# Ancillary chunks whose meaning survives any re-encoding of the same 8-bit pixels: no palette,
# transparency or bit-depth chunks (``pxc.Original`` keeps those exactly), no iCCP or eXIf
# (the ICC and EXIF records), nothing unknown.
PNG_CHUNKS = (b"cHRM", b"gAMA", b"sRGB", b"pHYs", b"tIME", b"tEXt", b"zTXt", b"iTXt", b"cICP", b"mDCV", b"cLLI")
CORRUPT = "corrupt .pxc header: a metadata section that does not parse"
# PNG (third edition) chunks of one size; a 4-byte PNG integer is at most 2^31 - 1
FIXED_SIZES = {b"gAMA": 4, b"sRGB": 1, b"pHYs": 9, b"cHRM": 32, b"tIME": 7, b"cICP": 4, b"cLLI": 8, b"mDCV": 24}
PNG_INTEGERS = {b"gAMA": 1, b"cHRM": 8, b"pHYs": 2, b"cLLI": 2}
TIME_RANGES = ((1, 12), (1, 31), (0, 23), (0, 59), (0, 60))        # month, day, hour, minute, second
LATIN1_PRINTABLE = set(range(32, 127)) | set(range(161, 256))
PIECE = 1 << 20
MAX_TEXT = 8_000_000        # libpng's default limit on one chunk's inflated text; here on a section's


class TextBudget:
    """The inflated text a section's records may hold together (``MAX_TEXT``), so that checking a
    header takes milliseconds however its text is compressed."""

    def __init__(self):
        self.left = MAX_TEXT


def _inflates(stream: bytes, budget: TextBudget, utf8: bool = False) -> bool:
    """Whether a zlib stream inflates whole within the budget, with nothing after it (and to
    UTF-8): in pieces, kept nowhere, so memory is constant."""
    d, text, pending = zlib.decompressobj(), codecs.getincrementaldecoder("utf-8")(), stream
    try:
        while True:
            piece = d.decompress(pending, min(PIECE, budget.left + 1))
            pending, budget.left = d.unconsumed_tail, budget.left - len(piece)
            if budget.left < 0:
                return False
            if utf8:
                text.decode(piece)
            if d.eof or not piece and not pending:
                break
        if utf8:
            text.decode(b"", final=True)
    except (zlib.error, UnicodeDecodeError):
        return False
    return d.eof and not d.unused_data


def _keyword(data: bytes) -> tuple[bytes, bytes] | None:
    """A text chunk's keyword (1 to 79 printable Latin-1 bytes, no outer or double spaces) and
    what follows its null separator; None where there is none such."""
    keyword, null, rest = data.partition(b"\0")
    if (not null or not 1 <= len(keyword) <= 79 or not set(keyword) <= LATIN1_PRINTABLE
            or keyword != keyword.strip(b" ") or b"  " in keyword):
        return None
    return keyword, rest


def _text_problem(kind: bytes, data: bytes, budget: TextBudget) -> str | None:
    found = _keyword(data)
    if found is None:
        return "no valid keyword"
    rest = found[1]
    if kind == b"tEXt":
        return "a null in its text" if b"\0" in rest else None
    if kind == b"zTXt":
        return None if rest[:1] == b"\0" and _inflates(rest[1:], budget) else "no valid compressed text (or over 8 MB of it)"
    if len(rest) < 2 or rest[0] > 1 or rest[1] != 0:                                  # iTXt
        return "an unknown compression"
    compressed = rest[0] == 1
    language, null, rest = rest[2:].partition(b"\0")
    translated, null2, text = rest.partition(b"\0")
    if not (null and null2) or not all(c < 128 and (chr(c).isalnum() or c == 0x2D) for c in language):
        return "no valid language tag"
    try:
        translated.decode("utf-8")
        if not compressed:
            text.decode("utf-8")
    except UnicodeDecodeError:
        return "text that is not UTF-8"
    return "no valid compressed text (or over 8 MB of it)" if compressed and not _inflates(text, budget, utf8=True) else None


def problem(kind: int, data: bytes, budget: TextBudget | None = None) -> str | None:
    """Why a record cannot be valid in the format it is written back in (None: it can). Records
    of one section share a ``budget`` of inflated text."""
    if kind == ICC:
        valid = len(data) >= 132 and int.from_bytes(data[:4], "big") == len(data) and data[36:40] == b"acsp"
        return None if valid else "not an ICC profile: its header's size or signature is wrong"
    if kind == EXIF:
        return None if data[:4] in (b"II*\0", b"MM\0*") else "not EXIF: no TIFF header"
    if kind == XMP:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return "an XMP packet that is not UTF-8"
        return "a null in the XMP packet" if b"\0" in data else None
    chunk, body = data[:4], data[4:]
    if chunk in FIXED_SIZES:
        if len(body) != FIXED_SIZES[chunk]:
            return f"{len(body)} byte{'' if len(body) == 1 else 's'} where the format has {FIXED_SIZES[chunk]}"
        if any(v >= 1 << 31 for v in struct.unpack(f">{PNG_INTEGERS.get(chunk, 0)}I", body[:4 * PNG_INTEGERS.get(chunk, 0)])):
            return "a value past 2^31 - 1"
        if (chunk == b"gAMA" and body == bytes(4) or chunk == b"sRGB" and body[0] > 3 or chunk == b"pHYs" and body[8] > 1
                or chunk == b"cICP" and body[3] > 1):
            return "a value the PNG specification does not allow"
        if chunk == b"tIME" and not all(lo <= v <= hi for v, (lo, hi) in zip(body[2:], TIME_RANGES)):
            return "a date or time out of range"
        return None
    return _text_problem(chunk, body, budget or TextBudget())


class Metadata(Section):
    flag, key, title = FLAG_METADATA, "metadata", "metadata"

    def __init__(self, icc: bytes | None = None, exif: bytes | None = None, xmp: bytes | None = None,
                 png_chunks: tuple[tuple[bytes, bytes], ...] = ()):
        self.icc, self.exif, self.xmp = icc, exif, xmp
        self.png_chunks = tuple(png_chunks)          # ((type, data), ...) in the source's order

    @classmethod
    def of(cls, icc=None, exif=None, xmp=None, png_chunks=(), dropped: list | None = None) -> "Metadata | None":
        """The section, or None when there is nothing to keep (empty records are nothing). A record
        that cannot be valid is left out, and its name and why added to ``dropped``."""
        dropped, budget = [] if dropped is None else dropped, TextBudget()

        def valid(name: str, kind: int, data: bytes) -> bool:
            why = problem(kind, data, budget)
            if why:
                dropped.append(f"{name} ({why})")
            return not why
        found = {kind: data for kind, data in ((ICC, icc), (EXIF, exif), (XMP, xmp)) if data and valid(NAMES[kind], kind, data)}
        chunks = tuple((t, d) for t, d in png_chunks if t in PNG_CHUNKS and valid(t.decode("ascii"), PNG_CHUNK, t + d))
        section = cls(found.get(ICC), found.get(EXIF), found.get(XMP), chunks[:255 - 3])
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
        fields, chunks, budget = {}, [], TextBudget()
        for _ in range(count):
            kind, length = struct.unpack("<BI", reader.take(5))
            data = reader.take(length)          # checked against the bytes present, then copied
            if kind == PNG_CHUNK and length >= 4 and data[:4] in PNG_CHUNKS:
                chunks.append((data[:4], data[4:]))
            elif kind in (ICC, EXIF, XMP) and kind not in fields and length:
                fields[kind] = data
            else:
                raise PixcodecError(CORRUPT)
            why = problem(kind, data, budget)
            if why:
                name = data[:4].decode("ascii") if kind == PNG_CHUNK else NAMES[kind]
                raise PixcodecError(f"corrupt .pxc header: the metadata's {name} record: {why}")
        return cls(fields.get(ICC), fields.get(EXIF), fields.get(XMP), tuple(chunks))

    def names(self) -> list[str]:
        found = [name for name, data in (("ICC", self.icc), ("EXIF", self.exif), ("XMP", self.xmp)) if data]
        return found + [t.decode("ascii") for t, _ in self.png_chunks]

    @classmethod
    def describe(cls, section, stream_lengths):
        return {"metadata": section.names() if section else []}
