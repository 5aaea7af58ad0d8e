"""The ``.pxc`` container, version 1 (FORMAT.md documents it byte by byte).

    offset  size  field
    0       4     magic b"\\x89PXC"
    4       1     format version (1)
    5       1     image mode: 0 = L (gray), 1 = RGB, 2 = 1-bit (coded as L with values 0/255)
    6       16    model id: SHA-256 prefix of the model's name, hyperparameters and exact weights
    22      4     height (u32)           26  4  width (u32)
    30      2     tile size (u16)        32  2  tiles per stream, at most (u16)
    34      4     CRC32 of the decoded pixels (C, H, W order, uint8)
    38      4*n   byte length of each of the n streams (u32); n follows from the size and tiling
    38+4n   4     CRC32 of every header byte before it
    then the n streams, back to back

All integers little-endian. The image is cut into tile x tile tiles (smaller at the
right and bottom edges); tiles of equal shape are coded in lockstep, up to ``group``
at a time, each lockstep group as one range-coded stream. Streams are ordered as
``tiling_plan`` lists them.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .errors import PixcodecError

MAGIC = b"\x89PXC"
VERSION = 1
MODES = {0: ("L", 1), 1: ("RGB", 3), 2: ("1", 1)}
MODE_CODES = {name: code for code, (name, _) in MODES.items()}
_FIXED = struct.Struct("<4sBB16sIIHHI")            # up to and including the pixel CRC
MAX_SIDE = 1 << 20
MAX_PIXELS = 1 << 30           # a forged header must not make the decoder allocate terabytes


@dataclass(frozen=True)
class Tile:
    top: int
    left: int
    height: int
    width: int


@dataclass
class Header:
    mode: str
    model_id: bytes
    height: int
    width: int
    tile: int
    group: int
    pixel_crc: int
    stream_lengths: list[int]

    @property
    def channels(self) -> int:
        return MODES[MODE_CODES[self.mode]][1]

    def pack(self) -> bytes:
        fixed = _FIXED.pack(MAGIC, VERSION, MODE_CODES[self.mode], self.model_id, self.height, self.width,
                            self.tile, self.group, self.pixel_crc)
        body = fixed + struct.pack(f"<{len(self.stream_lengths)}I", *self.stream_lengths)
        return body + struct.pack("<I", zlib.crc32(body))

    @property
    def size(self) -> int:
        return _FIXED.size + 4 * len(self.stream_lengths) + 4


def tiling_plan(height: int, width: int, tile: int, group: int) -> list[list[Tile]]:
    """The lockstep groups: tiles of one shape together, raster order, at most ``group`` each."""
    by_shape: dict[tuple[int, int], list[Tile]] = {}
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            t = Tile(top, left, min(tile, height - top), min(tile, width - left))
            by_shape.setdefault((t.height, t.width), []).append(t)
    return [tiles[k:k + group] for tiles in by_shape.values() for k in range(0, len(tiles), group)]


def stream_count(height: int, width: int, tile: int, group: int) -> int:
    """len(tiling_plan(...)) without listing the tiles (a corrupt header could ask for billions)."""
    rows, cols = divmod(height, tile), divmod(width, tile)
    classes = [rows[0] * cols[0], rows[0] * (cols[1] > 0), (rows[1] > 0) * cols[0], (rows[1] > 0) * (cols[1] > 0)]
    return sum(-(-n // group) for n in classes)


def parse(data: bytes) -> tuple[Header, list[bytes]]:
    """Header and streams of a .pxc file; every inconsistency is a PixcodecError."""
    if len(data) < 4 or data[:4] != MAGIC:
        raise PixcodecError("not a .pxc file (bad magic bytes)")
    if len(data) < _FIXED.size:
        raise PixcodecError("truncated .pxc file (incomplete header)")
    _, version, mode, model_id, height, width, tile, group, pixel_crc = _FIXED.unpack_from(data)
    if version != VERSION:
        raise PixcodecError(f"unsupported .pxc format version {version} (this pixcodec reads {VERSION})")
    if mode not in MODES or not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE) or tile == 0 or group == 0:
        raise PixcodecError("corrupt .pxc header")
    if height * width > MAX_PIXELS:
        raise PixcodecError(f"refusing a {width}x{height} image: more than {MAX_PIXELS} pixels")
    n = stream_count(height, width, tile, group)
    end = _FIXED.size + 4 * n
    if len(data) < end + 4:
        raise PixcodecError("truncated or corrupt .pxc header")
    lengths = list(struct.unpack_from(f"<{n}I", data, _FIXED.size))
    if struct.unpack_from("<I", data, end)[0] != zlib.crc32(data[:end]):
        raise PixcodecError("corrupt .pxc header (checksum mismatch)")
    header = Header(MODES[mode][0], model_id, height, width, tile, group, pixel_crc, lengths)
    if len(data) != header.size + sum(lengths):
        raise PixcodecError(f".pxc file is {len(data)} bytes but its header promises {header.size + sum(lengths)}: "
                            "truncated or padded")
    streams, offset = [], header.size
    for length in lengths:
        streams.append(data[offset:offset + length])
        offset += length
    return header, streams
