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

Planes are stored as raw LZMA2 streams after a byte-wise delta filter, and decompressed with
their exact size as a bound: a forged length cannot make the reader allocate more.
"""
from __future__ import annotations

import lzma
import struct

import numpy as np

from ..errors import PixcodecError
from .sections import Frame, Reader, Section

FLAG_ORIGINAL = 64
DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}   # PNG colour type: depths
MODES = {0: "L", 2: "RGB", 3: "RGB", 4: "L", 6: "RGB"}
LOW, ALPHA, PALETTE, KEY, INDICES = 1, 2, 4, 8, 16           # the parts byte
_FILTERS = [{"id": lzma.FILTER_DELTA, "dist": 1}, {"id": lzma.FILTER_LZMA2, "preset": 6}]


def pack_plane(plane: np.ndarray) -> bytes:
    raw = lzma.compress(np.ascontiguousarray(plane).tobytes(), format=lzma.FORMAT_RAW, filters=_FILTERS)
    return struct.pack("<I", len(raw)) + raw


def read_plane(reader: Reader, size: int) -> bytes:
    """A plane of exactly ``size`` bytes, or a corrupt header."""
    packed = reader.take(struct.unpack("<I", reader.take(4))[0])
    try:
        d = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_FILTERS)
        raw = d.decompress(packed, max_length=size + 1)
    except lzma.LZMAError:
        raise PixcodecError("corrupt .pxc header: an undecodable plane in the original section") from None
    if len(raw) != size or not d.eof or d.unused_data:
        raise PixcodecError("corrupt .pxc header: a plane of the wrong size in the original section")
    return raw


class Original(Section):
    flag, key, title = FLAG_ORIGINAL, "original", "original samples"

    def __init__(self, color_type: int, depth: int, low: np.ndarray | None = None, alpha: np.ndarray | None = None,
                 palette: bytes = b"", palette_alpha: bytes = b"", key: tuple[int, ...] | None = None,
                 indices: np.ndarray | None = None):
        self.color_type, self.depth = color_type, depth
        self.low = low                    # (C, H, W) uint8: the low bytes of 16-bit samples
        self.alpha = alpha                # (H, W) uint8, or uint16 at depth 16
        self.palette, self.palette_alpha = palette, palette_alpha   # PLTE (3N bytes), tRNS (M <= N bytes)
        self.colour_key = key             # tRNS of a gray (1 value) or RGB (3) image
        self.indices = indices            # (H, W) uint8, when the palette repeats a colour

    @property
    def parts(self) -> int:
        return ((self.low is not None) * LOW | (self.alpha is not None) * ALPHA | bool(self.palette) * PALETTE
                | (self.colour_key is not None) * KEY | (self.indices is not None) * INDICES)

    def write(self, frame: Frame) -> bytes:
        out = [bytes([self.color_type, self.depth, self.parts])]
        if self.low is not None:
            out.append(pack_plane(self.low))
        if self.alpha is not None:
            out.append(pack_plane(self.alpha.astype(">u2") if self.depth == 16 else self.alpha))
        if self.palette:
            out.append(struct.pack("<H", len(self.palette) // 3) + self.palette
                       + struct.pack("<H", len(self.palette_alpha)) + self.palette_alpha)
        if self.colour_key is not None:
            out.append(struct.pack(f"<{len(self.colour_key)}H", *self.colour_key))
        if self.indices is not None:
            out.append(pack_plane(self.indices))
        return b"".join(out)

    @classmethod
    def read(cls, reader, frame):
        color_type, depth, parts = reader.take(3)
        channels = 3 if frame.mode == "RGB" else 1
        expected = LOW * (depth == 16) | ALPHA * (color_type in (4, 6)) | PALETTE * (color_type == 3)
        mode = "1" if (color_type, depth) == (0, 1) else MODES.get(color_type)
        if (depth not in DEPTHS.get(color_type, ()) or mode != frame.mode or parts & ~(KEY | INDICES) != expected
                or (parts & KEY and color_type not in (0, 2)) or (parts & INDICES and color_type != 3)):
            raise PixcodecError("corrupt .pxc header: an original section that does not fit the image")
        h, w = frame.height, frame.width
        low = alpha = indices = key = None
        palette = palette_alpha = b""
        if parts & LOW:
            low = np.frombuffer(read_plane(reader, channels * h * w), np.uint8).reshape(channels, h, w)
        if parts & ALPHA:
            dtype = np.dtype(">u2") if depth == 16 else np.dtype(np.uint8)
            alpha = np.frombuffer(read_plane(reader, dtype.itemsize * h * w), dtype).reshape(h, w).astype(dtype.newbyteorder("="))
        if parts & PALETTE:
            n = reader.u16()
            palette = reader.take(3 * n)
            palette_alpha = reader.take(reader.u16())
            if not 0 < n <= 1 << depth or len(palette_alpha) > n:
                raise PixcodecError("corrupt .pxc header: a PNG palette of the wrong size")
        if parts & KEY:
            key = struct.unpack(f"<{channels}H", reader.take(2 * channels))
        if parts & INDICES:
            indices = np.frombuffer(read_plane(reader, h * w), np.uint8).reshape(h, w)
        return cls(color_type, depth, low, alpha, palette, palette_alpha, key, indices)

    def describe_kept(self) -> str:
        """What this section holds beyond 8-bit pixels, for messages."""
        if self.color_type == 3:
            return "a palette"
        kept = [f"{self.depth}-bit samples"] if self.depth != 8 else []
        kept += ["an alpha channel"] * (self.alpha is not None) + ["a transparent colour"] * (self.colour_key is not None)
        return " and ".join(kept) or "its own PNG layout"

    def samples(self, pixels: np.ndarray) -> np.ndarray:
        """The PNG's samples (H, W, planes) at their depth (palette: indices, (H, W, 1)) from the
        decoded 8-bit image (C, H, W); a decoded image the section cannot come from is corrupt."""
        depth = self.depth
        if self.color_type == 3:
            return self._indices(pixels)[:, :, None]
        if depth == 16:
            values = pixels.astype(np.uint16) << 8 | self.low
        elif depth < 8:
            scale = 255 // ((1 << depth) - 1)
            if (pixels % scale).any():
                raise PixcodecError(f"corrupt .pxc file: {depth}-bit samples that are not multiples of {scale}")
            values = pixels // scale
        else:
            values = pixels
        planes = [values[c] for c in range(values.shape[0])]
        if self.alpha is not None:
            planes.append(self.alpha)
        return np.stack(planes, axis=2).astype(np.uint16 if depth == 16 else np.uint8)

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
        return (f"PNG colour type {self.color_type}, {self.depth}-bit" + (", alpha" if self.alpha is not None else "")
                + (f", palette of {len(self.palette) // 3}" if self.palette else "")
                + (", colour key" if self.colour_key is not None else ""))

    @classmethod
    def describe(cls, section, stream_lengths):
        return {"original": None if section is None else section.summary}
