"""The ``original`` section: what restoring a PNG's samples needs beyond the coded 8-bit image.

The model codes 8-bit gray or RGB. A PNG may hold more: 1, 2, 4 or 16-bit samples, an alpha
channel, a palette (its order and transparency), a transparent colour key. This section keeps
exactly that, so the decoder writes back every sample at its original depth:

- 16-bit samples: the image codes their high bytes; the low bytes are kept here;
- 2 and 4-bit gray: the image codes each value v as v * 255 / (2^depth - 1), exactly;
- alpha: the plane, kept here (high byte first for 16 bits);
- palette: the coded image is the colours; the PLTE entries and tRNS alphas are kept, and the
  index plane too when two entries share a colour (else the colour names its index);
- colour key: the tRNS sample values of a gray or RGB image.

Planes are stored as raw LZMA2 streams after a byte-wise delta filter. A file's planes stay
packed until the decoder asks for them, after the decode budget: then each is inflated in
pieces, with the size the header's geometry gives as a hard bound, so a forged stream can
neither make the reader allocate more nor go on inflating. Any LZMA2 stream of the right size is
lawful, whatever encoder wrote it: the decoder's dictionary is as large as the plane.
"""
from __future__ import annotations

import lzma
import struct
import zlib

import numpy as np

from ..errors import PixcodecError
from .sections import Frame, Reader, Section

FLAG_ORIGINAL = 64
DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}   # PNG colour type: depths
MODES = {0: "L", 2: "RGB", 3: "RGB", 4: "L", 6: "RGB"}
LOW, ALPHA, PALETTE, KEY, INDICES = 1, 2, 4, 8, 16           # the parts byte
_FILTERS = [{"id": lzma.FILTER_DELTA, "dist": 1}, {"id": lzma.FILTER_LZMA2, "preset": 6}]
MAX_DICT = 3 << 29             # LZMA2's largest dictionary (1.5 GiB): no stream reaches further back
PIECE = 1 << 24                # inflated at most this much at a time
CORRUPT = "corrupt .pxc header: an original section that does not fit the image"


def inflate(packed: bytes, size: int) -> bytearray:
    """A plane of exactly ``size`` bytes from its LZMA2 stream, or a corrupt file. Memory is the
    plane's own (the output, and a dictionary no larger), whatever the stream claims."""
    filters = [{"id": lzma.FILTER_DELTA, "dist": 1},
               {"id": lzma.FILTER_LZMA2, "dict_size": min(max(size, 4096), MAX_DICT)}]
    decompressor, out, at, data = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=filters), bytearray(size), 0, packed
    try:
        while not decompressor.eof:
            piece = decompressor.decompress(data, max_length=min(PIECE, size - at + 1))
            data = b""
            if at + len(piece) > size:
                raise PixcodecError("corrupt .pxc file: a plane of the original section inflates past its size")
            out[at:at + len(piece)] = piece
            at += len(piece)
            if not piece:
                break                   # the stream ended before its end marker
    except lzma.LZMAError:
        raise PixcodecError("corrupt .pxc file: an undecodable plane in the original section") from None
    if at != size or not decompressor.eof or decompressor.unused_data:
        raise PixcodecError("corrupt .pxc file: a plane of the original section short of its size, or padded")
    return out


def pixel_crc(pixels: np.ndarray, original: "Original | None" = None) -> int:
    """CRC-32 of what a file gives back: the samples ``original`` restores from the decoded pixels
    (C, H, W) uint8, as ``Original.samples`` lays them out, 16-bit ones little-endian; without
    one, the pixels themselves."""
    if original is None:
        return zlib.crc32(np.ascontiguousarray(pixels).data)
    samples = original.samples(pixels)
    return zlib.crc32(np.ascontiguousarray(samples, samples.dtype.newbyteorder("<")).data)


class Plane:
    """One plane of the section: its samples, or the LZMA2 stream that holds them, each made
    from the other once, when first asked for (the reader never inflates what it only describes)."""

    def __init__(self, shape: tuple[int, ...], dtype, array: np.ndarray | None = None, packed: bytes | None = None):
        self.shape, self.dtype = shape, np.dtype(dtype)     # as stored: 16-bit samples big-endian
        self._array, self._packed = array, packed

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            raw = np.frombuffer(inflate(self._packed, self.size), self.dtype).reshape(self.shape)
            native = raw.dtype.newbyteorder("=")
            self._array = raw if native == raw.dtype else raw.byteswap(inplace=True).view(native)
        return self._array

    @property
    def packed(self) -> bytes:
        if self._packed is None:
            raw = np.ascontiguousarray(self._array, self.dtype).tobytes()
            self._packed = lzma.compress(raw, format=lzma.FORMAT_RAW, filters=_FILTERS)
        return self._packed

    def write(self) -> bytes:
        return struct.pack("<I", len(self.packed)) + self.packed

    @classmethod
    def read(cls, reader: Reader, shape: tuple[int, ...], dtype) -> "Plane":
        return cls(shape, dtype, packed=reader.take(struct.unpack("<I", reader.take(4))[0]))


class Original(Section):
    flag, key, title = FLAG_ORIGINAL, "original", "original samples"

    reshapes_samples = True

    def __init__(self, color_type: int, depth: int, low: np.ndarray | Plane | None = None,
                 alpha: np.ndarray | Plane | None = None, palette: bytes = b"", palette_alpha: bytes = b"",
                 key: tuple[int, ...] | None = None, indices: np.ndarray | Plane | None = None):
        self.color_type, self.depth = color_type, depth
        wide = np.dtype(">u2") if depth == 16 else np.dtype(np.uint8)
        self.planes = {part: plane if isinstance(plane, Plane) else Plane(plane.shape, dtype, array=plane)
                       for part, plane, dtype in ((LOW, low, np.uint8), (ALPHA, alpha, wide), (INDICES, indices, np.uint8))
                       if plane is not None}
        self.palette, self.palette_alpha = palette, palette_alpha   # PLTE (3N bytes), tRNS (M <= N bytes)
        self.colour_key = key             # tRNS of a gray (1 value) or RGB (3) image

    def _plane(self, part: int) -> np.ndarray | None:
        return self.planes[part].array if part in self.planes else None

    @property
    def low(self) -> np.ndarray | None:
        """(C, H, W) uint8: the low bytes of 16-bit samples."""
        return self._plane(LOW)

    @property
    def alpha(self) -> np.ndarray | None:
        """(H, W) uint8, or uint16 at depth 16."""
        return self._plane(ALPHA)

    @property
    def indices(self) -> np.ndarray | None:
        """(H, W) uint8, when the palette repeats a colour."""
        return self._plane(INDICES)

    @property
    def parts(self) -> int:
        return sum(part for part in (LOW, ALPHA, INDICES) if part in self.planes) | bool(self.palette) * PALETTE \
            | (self.colour_key is not None) * KEY

    def write(self, frame: Frame) -> bytes:
        if self.colour_key is not None and max(self.colour_key) >> self.depth:
            raise ValueError(f"a colour key {self.colour_key} beyond {self.depth}-bit samples")
        out = [bytes([self.color_type, self.depth, self.parts])]
        for part in (LOW, ALPHA):
            if part in self.planes:
                out.append(self.planes[part].write())
        if self.palette:
            out.append(struct.pack("<H", len(self.palette) // 3) + self.palette
                       + struct.pack("<H", len(self.palette_alpha)) + self.palette_alpha)
        if self.colour_key is not None:
            out.append(struct.pack(f"<{len(self.colour_key)}H", *self.colour_key))
        if INDICES in self.planes:
            out.append(self.planes[INDICES].write())
        return b"".join(out)

    @classmethod
    def read(cls, reader, frame):
        color_type, depth, parts = reader.take(3)
        channels = 3 if frame.mode == "RGB" else 1
        expected = LOW * (depth == 16) | ALPHA * (color_type in (4, 6)) | PALETTE * (color_type == 3)
        mode = "1" if (color_type, depth) == (0, 1) else MODES.get(color_type)
        if (depth not in DEPTHS.get(color_type, ()) or mode != frame.mode or parts & ~(KEY | INDICES) != expected
                or (parts & KEY and color_type not in (0, 2)) or (parts & INDICES and color_type != 3)):
            raise PixcodecError(CORRUPT)
        h, w = frame.height, frame.width
        low = alpha = indices = key = None
        palette = palette_alpha = b""
        if parts & LOW:
            low = Plane.read(reader, (channels, h, w), np.uint8)
        if parts & ALPHA:
            alpha = Plane.read(reader, (h, w), ">u2" if depth == 16 else np.uint8)
        if parts & PALETTE:
            n = reader.u16()
            palette = reader.take(3 * n)
            palette_alpha = reader.take(reader.u16())
            if not 0 < n <= 1 << depth or len(palette_alpha) > n:
                raise PixcodecError("corrupt .pxc header: a PNG palette of the wrong size")
        if parts & KEY:
            key = struct.unpack(f"<{channels}H", reader.take(2 * channels))
            if max(key) >> depth:
                raise PixcodecError(f"corrupt .pxc header: a colour key beyond {depth}-bit samples")
        if parts & INDICES:
            indices = Plane.read(reader, (h, w), np.uint8)
        return cls(color_type, depth, low, alpha, palette, palette_alpha, key, indices)

    def describe_kept(self) -> str:
        """What this section holds beyond 8-bit pixels, for messages."""
        if self.color_type == 3:
            return "a palette"
        kept = [f"{self.depth}-bit samples"] if self.depth != 8 else []
        kept += ["an alpha channel"] * (ALPHA in self.planes) + ["a transparent colour"] * (self.colour_key is not None)
        return " and ".join(kept) or "its own PNG layout"

    def samples(self, pixels: np.ndarray) -> np.ndarray:
        """The PNG's samples (H, W, planes) at their depth (palette: indices, (H, W, 1)) from the
        decoded 8-bit image (C, H, W); a decoded image the section cannot come from is corrupt."""
        depth, channels = self.depth, pixels.shape[0]
        if self.color_type == 3:
            return self._indices(pixels)[:, :, None]
        scale = 255 // ((1 << depth) - 1) if depth < 8 else 1
        if scale > 1 and any((pixels[c] % scale).any() for c in range(channels)):
            raise PixcodecError(f"corrupt .pxc file: {depth}-bit samples that are not multiples of {scale}")
        # filled plane by plane in place: the output and one plane's temporaries, never more
        out = np.empty((*pixels.shape[1:], channels + (ALPHA in self.planes)), np.uint16 if depth == 16 else np.uint8)
        for c in range(channels):
            plane = out[:, :, c]
            plane[...] = pixels[c] if scale == 1 else pixels[c] // scale
            if depth == 16:
                plane <<= 8
                plane |= self.low[c]
        if ALPHA in self.planes:
            out[:, :, channels] = self.alpha
        return out

    def _indices(self, pixels: np.ndarray) -> np.ndarray:
        if self.indices is not None:
            if (self.indices >= len(self.palette) // 3).any():
                raise PixcodecError("corrupt .pxc file: palette indices beyond the palette")
            colours = np.frombuffer(self.palette, np.uint8).reshape(-1, 3)[self.indices].transpose(2, 0, 1)
            if not np.array_equal(colours, pixels):
                raise PixcodecError("corrupt .pxc file: palette indices that do not give the decoded colours")
            return self.indices
        key = pixels[0].astype(np.int64) << 16 | pixels[1].astype(np.int64) << 8 | pixels[2]
        table = np.frombuffer(self.palette, np.uint8).reshape(-1, 3).astype(np.int64)
        codes = table[:, 0] << 16 | table[:, 1] << 8 | table[:, 2]
        order = np.argsort(codes, kind="stable")
        where = np.searchsorted(codes[order], key).clip(max=len(codes) - 1)
        if not np.array_equal(codes[order][where], key):
            raise PixcodecError("corrupt .pxc file: a decoded colour that is not in the palette")
        return order[where].astype(np.uint8)

    @property
    def summary(self) -> str:
        return (f"PNG colour type {self.color_type}, {self.depth}-bit" + (", alpha" if ALPHA in self.planes else "")
                + (f", palette of {len(self.palette) // 3}" if self.palette else "")
                + (", colour key" if self.colour_key is not None else ""))

    @classmethod
    def describe(cls, section, stream_lengths):
        return {"original": None if section is None else section.summary}
