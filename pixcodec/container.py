"""The ``.pxc`` container, versions 1 to 5 (FORMAT.md documents it byte by byte).

    offset  size  field
    0       4     magic b"\\x89PXC"
    4       1     format version: 1; 2 when some tiles are stored raw; 3 for two-part files;
                  4 with value sets or a gray RGB image; 5 with a tuned head
    5       1     image mode: 0 = L (gray), 1 = RGB, 2 = 1-bit (coded as L with values 0/255)
    6       16    model id: SHA-256 prefix of the model's name, hyperparameters and exact weights
    22      4     height (u32)           26  4  width (u32)
    30      2     tile size (u16)        32  2  tiles per stream, at most (u16)
    34      4     CRC32 of the decoded pixels (C, H, W order, uint8)
    38      f     versions 4, 5: one flags byte (1 two-part, 2 value sets, 4 gray RGB, 8 sharpness,
                  16 palette, 32 tuned head: version 5)
    38+f    m     versions 2 to 5: one bit per tile in raster order, set when the tile is stored
    38+f+m  v     version 4 with value sets: 32 bytes per coded channel, bit k set when value k occurs
    ...     p     version 4 with a palette: its colour count n (u16), then n RGB triples, ascending
    ...     t     version 4 with sharpness: one byte k per tile and coded channel (logits times k/16)
    ...     h     version 5: the count n (u16) of the model's last-layer deltas, then n int8 (tune.py)
    ...     4*n   byte length of each of the n streams (u32); n follows from the size, tiling and bits
                  (two-part: one more, the latent stream, first)
    ...     4     CRC32 of every header byte before it
    then the n streams, back to back, then the stored tiles' raw bytes

All integers little-endian. The image is cut into tile x tile tiles (smaller at the
right and bottom edges); the coded tiles of equal shape are coded in lockstep, up to ``group``
at a time, each lockstep group as one range-coded stream. Streams are ordered as
``tiling_plan`` lists them. A tile the model would spend more than 8 bits a subpixel on is
stored instead, so no tile ever costs much more than its raw size.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from .errors import PixcodecError

MAGIC = b"\x89PXC"
VERSION = 5                    # the newest this code reads; a file names the oldest that reads it
MODES = {0: ("L", 1), 1: ("RGB", 3), 2: ("1", 1)}
MODE_CODES = {name: code for code, (name, _) in MODES.items()}
FLAG_LATENT, FLAG_VALUES, FLAG_GRAY, FLAG_SHARPNESS, FLAG_PALETTE, FLAG_TUNED = 1, 2, 4, 8, 16, 32  # flags byte
NEW_IN_4 = FLAG_VALUES | FLAG_GRAY | FLAG_SHARPNESS | FLAG_PALETTE
NEW_IN_5 = FLAG_TUNED
_FIXED = struct.Struct("<4sBB16sIIHHI")            # up to and including the pixel CRC
MAX_SIDE = 1 << 20
MAX_PIXELS = 1 << 30           # a forged header must not make the decoder allocate terabytes
MAX_TILES = 1 << 24            # nor list billions of tiles


@dataclass(frozen=True)
class Tile:
    top: int
    left: int
    height: int
    width: int
    index: int                 # raster position among all the image's tiles

    @property
    def rows(self) -> slice:
        return slice(self.top, self.top + self.height)

    @property
    def cols(self) -> slice:
        return slice(self.left, self.left + self.width)


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
    stored: frozenset[int] = field(default_factory=frozenset)    # raster indices of stored tiles
    latent: bool = False       # two-part: stream 0 is the latent code map
    values: tuple[tuple[int, ...], ...] = ()   # per coded channel, the values that occur; () = any
    gray: bool = False         # an RGB image with R = G = B everywhere, coded as its one gray channel
    sharpness: bytes = b""     # per tile (raster order), per coded channel: logits scaled by k / 16
    palette: tuple[tuple[int, int, int], ...] = ()   # an RGB image's colours, ascending; () = any
    tuned: bytes = b""         # the model's last-layer deltas, int8 each (tune.py); b"" = none

    @property
    def channels(self) -> int:
        return MODES[MODE_CODES[self.mode]][1]

    @property
    def coded_channels(self) -> int:
        """The channels the streams and stored tiles hold."""
        return 1 if self.gray else self.channels

    @property
    def version(self) -> int:
        """The oldest version that reads the file."""
        return (5 if self.tuned else 4 if self.values or self.gray or self.sharpness or self.palette
                else 3 if self.latent else 2 if self.stored else 1)

    @property
    def flags(self) -> int:
        return (self.latent * FLAG_LATENT + bool(self.values) * FLAG_VALUES + self.gray * FLAG_GRAY
                + bool(self.sharpness) * FLAG_SHARPNESS + bool(self.palette) * FLAG_PALETTE
                + bool(self.tuned) * FLAG_TUNED)

    def bitmap(self) -> bytes:
        if self.version == 1:
            return b""
        bits = np.zeros(tile_count(self.height, self.width, self.tile), dtype=bool)
        bits[sorted(self.stored)] = True
        return np.packbits(bits, bitorder="little").tobytes()

    def value_bits(self) -> bytes:
        bits = np.zeros((len(self.values), 256), dtype=bool)
        for c, values in enumerate(self.values):
            bits[c, list(values)] = True
        return np.packbits(bits, axis=1, bitorder="little").tobytes()

    def palette_bytes(self) -> bytes:
        if not self.palette:
            return b""
        return struct.pack("<H", len(self.palette)) + bytes(v for color in self.palette for v in color)

    def tuned_bytes(self) -> bytes:
        return struct.pack("<H", len(self.tuned)) + self.tuned if self.tuned else b""

    def pack(self) -> bytes:
        if self.values and len(self.values) != self.coded_channels:
            raise ValueError("a value set per coded channel")
        if self.sharpness and (len(self.sharpness) != self.sharpness_bytes or 0 in self.sharpness):
            raise ValueError("a sharpness byte, 1 to 255, per tile and coded channel")
        if self.palette and (self.values or self.gray or not _palette_ok(self.palette)):
            raise ValueError("a palette: 1 to 65535 distinct RGB colours, ascending, without value sets")
        if self.tuned and not 0 < len(self.tuned) < 1 << 16:
            raise ValueError("tuned head: 1 to 65535 int8 deltas")
        fixed = _FIXED.pack(MAGIC, self.version, MODE_CODES[self.mode], self.model_id, self.height, self.width,
                            self.tile, self.group, self.pixel_crc)
        flags = bytes([self.flags]) if self.version >= 4 else b""
        body = (fixed + flags + self.bitmap() + self.value_bits() + self.palette_bytes() + self.sharpness
                + self.tuned_bytes() + struct.pack(f"<{len(self.stream_lengths)}I", *self.stream_lengths))
        return body + struct.pack("<I", zlib.crc32(body))

    @property
    def size(self) -> int:
        bitmap = -(-tile_count(self.height, self.width, self.tile) // 8) if self.version > 1 else 0
        return (_FIXED.size + (self.version >= 4) + bitmap + 32 * len(self.values) + len(self.palette_bytes())
                + len(self.sharpness) + len(self.tuned_bytes())
                + 4 * len(self.stream_lengths) + 4)

    @property
    def sharpness_bytes(self) -> int:
        return tile_count(self.height, self.width, self.tile) * self.coded_channels

    def stored_bytes(self) -> int:
        return sum(self.coded_channels * t.height * t.width for t in stored_tiles(self))


def _palette_ok(palette) -> bool:
    return 0 < len(palette) < 1 << 16 and all(a < b for a, b in zip(palette, palette[1:]))


def tile_at(height: int, width: int, tile: int, index: int) -> Tile:
    row, col = divmod(index, -(-width // tile))
    top, left = row * tile, col * tile
    return Tile(top, left, min(tile, height - top), min(tile, width - left), index)


def all_tiles(height: int, width: int, tile: int) -> list[Tile]:
    return [tile_at(height, width, tile, k) for k in range(tile_count(height, width, tile))]


def tile_count(height: int, width: int, tile: int) -> int:
    return -(-height // tile) * -(-width // tile)


def stored_tiles(header: Header) -> list[Tile]:
    return [tile_at(header.height, header.width, header.tile, k) for k in sorted(header.stored)]


def tiling_plan(height: int, width: int, tile: int, group: int, stored=frozenset()) -> list[list[Tile]]:
    """The lockstep groups of coded tiles: one shape together, raster order, at most ``group`` each."""
    by_shape: dict[tuple[int, int], list[Tile]] = {}
    for t in all_tiles(height, width, tile):
        if t.index not in stored:
            by_shape.setdefault((t.height, t.width), []).append(t)
    return [tiles[k:k + group] for tiles in by_shape.values() for k in range(0, len(tiles), group)]


def stream_count(height: int, width: int, tile: int, group: int, stored: np.ndarray | None = None) -> int:
    """len(tiling_plan(...)) without listing the tiles (a corrupt header could ask for billions).

    stored: None, or one bool per tile in raster order."""
    (rows, bottom), (cols, right) = divmod(height, tile), divmod(width, tile)
    grid = (np.zeros((rows + (bottom > 0), cols + (right > 0)), dtype=bool) if stored is None
            else stored.reshape(rows + (bottom > 0), cols + (right > 0)))
    coded = ~grid
    classes = [coded[:rows, :cols].sum(), coded[:rows, cols:].sum(), coded[rows:, :cols].sum(), coded[rows:, cols:].sum()]
    return sum(-(-int(n) // group) for n in classes)


def parse(data: bytes) -> tuple[Header, list[bytes], bytes]:
    """Header, streams and stored-tile bytes of a .pxc file; every inconsistency is a PixcodecError."""
    if len(data) < 4 or data[:4] != MAGIC:
        raise PixcodecError("not a .pxc file (bad magic bytes)")
    if len(data) < _FIXED.size:
        raise PixcodecError("truncated .pxc file (incomplete header)")
    _, version, mode, model_id, height, width, tile, group, pixel_crc = _FIXED.unpack_from(data)
    if not 1 <= version <= VERSION:
        raise PixcodecError(f"unsupported .pxc format version {version} (this pixcodec reads 1 to {VERSION})")
    if mode not in MODES or not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE) or tile == 0 or group == 0:
        raise PixcodecError("corrupt .pxc header")
    if height * width > MAX_PIXELS:
        raise PixcodecError(f"refusing a {width}x{height} image: more than {MAX_PIXELS} pixels")
    if tile_count(height, width, tile) > MAX_TILES:
        raise PixcodecError(f"refusing a {width}x{height} image in {tile}x{tile} tiles: more than {MAX_TILES} tiles")
    offset, stored_bits, flags = _FIXED.size, None, FLAG_LATENT * (version == 3)
    if version >= 4:
        if len(data) < offset + 1:
            raise PixcodecError("truncated .pxc file (incomplete header)")
        flags, offset = data[offset], offset + 1
        gray_ok = MODES[mode][0] == "RGB" or not flags & FLAG_GRAY
        palette_ok = not flags & FLAG_PALETTE or (MODES[mode][0] == "RGB" and not flags & (FLAG_GRAY | FLAG_VALUES))
        known = FLAG_LATENT | NEW_IN_4 | (NEW_IN_5 if version >= 5 else 0)
        newest = NEW_IN_5 if version >= 5 else NEW_IN_4     # a file names the oldest version that reads it
        if flags & ~known or not flags & newest or not gray_ok or not palette_ok:
            raise PixcodecError("corrupt .pxc header (flags)")
    coded_channels = 1 if flags & FLAG_GRAY else MODES[mode][1]
    if version >= 2:
        count, start = tile_count(height, width, tile), offset
        offset += -(-count // 8)
        if len(data) < offset:
            raise PixcodecError("truncated or corrupt .pxc header")
        stored_bits = np.unpackbits(np.frombuffer(data, np.uint8, offset - start, start),
                                    bitorder="little")[:count].astype(bool)
    values = ()
    if flags & FLAG_VALUES:
        if len(data) < offset + 32 * coded_channels:
            raise PixcodecError("truncated or corrupt .pxc header")
        bits = np.unpackbits(np.frombuffer(data, np.uint8, 32 * coded_channels, offset), bitorder="little")
        values = tuple(tuple(np.flatnonzero(row).tolist()) for row in bits.reshape(coded_channels, 256))
        offset += 32 * coded_channels
    palette = ()
    if flags & FLAG_PALETTE:
        if len(data) < offset + 2:
            raise PixcodecError("truncated or corrupt .pxc header")
        count = struct.unpack_from("<H", data, offset)[0]
        raw = bytes(data[offset + 2:offset + 2 + 3 * count])
        if len(raw) < 3 * count:
            raise PixcodecError("truncated or corrupt .pxc header")
        palette, offset = tuple(tuple(raw[k:k + 3]) for k in range(0, len(raw), 3)), offset + 2 + 3 * count
        if not _palette_ok(palette):
            raise PixcodecError("corrupt .pxc header: a palette that is empty, unsorted or repeats a colour")
    sharpness = b""
    if flags & FLAG_SHARPNESS:
        size = tile_count(height, width, tile) * coded_channels
        sharpness, offset = bytes(data[offset:offset + size]), offset + size
        if len(sharpness) < size:
            raise PixcodecError("truncated or corrupt .pxc header")
        if 0 in sharpness:
            raise PixcodecError("corrupt .pxc header: a sharpness of 0")
    tuned = b""
    if flags & FLAG_TUNED:
        if len(data) < offset + 2:
            raise PixcodecError("truncated or corrupt .pxc header")
        count = struct.unpack_from("<H", data, offset)[0]
        tuned, offset = bytes(data[offset + 2:offset + 2 + count]), offset + 2 + count
        if len(tuned) < count or count == 0:
            raise PixcodecError("truncated or corrupt .pxc header")
    n = stream_count(height, width, tile, group, stored_bits) + bool(flags & FLAG_LATENT)
    end = offset + 4 * n
    if len(data) < end + 4:
        raise PixcodecError("truncated or corrupt .pxc header")
    if struct.unpack_from("<I", data, end)[0] != zlib.crc32(data[:end]):
        raise PixcodecError("corrupt .pxc header (checksum mismatch)")
    stored = frozenset(np.flatnonzero(stored_bits).tolist()) if stored_bits is not None else frozenset()
    if version == 2 and not stored:
        raise PixcodecError("corrupt .pxc header: a version 2 file with no stored tiles")
    if not all(values):
        raise PixcodecError("corrupt .pxc header: a channel with no values")
    lengths = list(struct.unpack_from(f"<{n}I", data, offset))
    header = Header(MODES[mode][0], model_id, height, width, tile, group, pixel_crc, lengths, stored,
                    bool(flags & FLAG_LATENT), values, bool(flags & FLAG_GRAY), sharpness, palette, tuned)
    expected = header.size + sum(lengths) + header.stored_bytes()
    if len(data) != expected:
        raise PixcodecError(f".pxc file is {len(data)} bytes but its header promises {expected}: truncated or padded")
    streams, offset = [], header.size
    for length in lengths:
        streams.append(data[offset:offset + length])
        offset += length
    return header, streams, data[offset:]
