"""The ``.pxc`` header: fixed fields, then the sections (sections.py) the version table allows.

Writing and reading are one loop each over ``LAYOUT`` (versions.py); FORMAT.md describes the
same layout byte by byte. Every size a header declares is checked against the format's
limits, and every section against the bytes actually present, before anything of that size
is allocated. Nothing is inflated here, and sizes are those of the bytes read.
"""
from __future__ import annotations

import dataclasses
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from ..errors import PixcodecError
from .channel_deltas import ChannelDeltas
from .context_mixing import ContextMixing, ContextMixing2, ContextMixing3
from .metadata import Metadata
from .original import Original, pixel_crc
from .sections import FLAG_GRAY, Frame, GrayRGB, Latent, OnlineMixing, Reader, Section, Sharpness, StoredTiles
from .tuned_head import TunedHead
from .tiles import stream_count, tile_count
from .value_sets import Palette, ValueSets
from .versions import LAYOUT, NEWEST, VERSIONS, implied_flags, known_flags, new_in, oldest_version

MAGIC = b"\x89PXC"
MODES = {0: ("L", 1), 1: ("RGB", 3), 2: ("1", 1)}
MODE_CODES = {name: code for code, (name, _) in MODES.items()}
FIXED = struct.Struct("<4sBB16sIIHHI")       # magic, version, mode, model id, H, W, tile, group, pixel CRC
MAX_SIDE = 1 << 20
MAX_PIXELS = 1 << 30           # a forged header must not make the decoder allocate terabytes
MAX_TILES = 1 << 24            # nor list billions of tiles
INCOMPLETE = "truncated .pxc file (incomplete header)"


@dataclass(frozen=True)
class SideInfo:
    """What a file is coded with beyond the model: each optional section, or None. The fields
    are ``LAYOUT``'s keys, in its order (a test checks)."""
    latent: Latent | None = None
    gray: GrayRGB | None = None
    stored: StoredTiles | None = None
    values: ValueSets | None = None
    palette: Palette | None = None
    sharpness: Sharpness | None = None
    tuned: TunedHead | None = None
    original: Original | None = None
    online: OnlineMixing | None = None
    cm: ContextMixing | None = None
    cm2: ContextMixing2 | None = None
    cm3: ContextMixing3 | None = None
    deltas: ChannelDeltas | None = None
    metadata: Metadata | None = None

    def sections(self) -> list[Section]:
        return [s for s in (getattr(self, cls.key) for cls in LAYOUT) if s is not None]

    def replace(self, **changes) -> "SideInfo":
        return dataclasses.replace(self, **changes)

    @property
    def mixing(self) -> ContextMixing | None:
        """The context-mixing stage's section, of whichever revision, if the file has one."""
        return next((s for s in (self.cm3, self.cm2, self.cm) if s is not None), None)

    @property
    def restriction(self) -> ValueSets | Palette | None:
        """What restricts the coded values, if anything (never both)."""
        return self.palette if self.palette is not None else self.values

    @property
    def flags(self) -> int:
        return sum(s.flag for s in self.sections())


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
    side: SideInfo = field(default_factory=SideInfo)
    writer: int = NEWEST        # the versions its writer knew: a header read packs again as its own version

    @property
    def channels(self) -> int:
        return MODES[MODE_CODES[self.mode]][1]

    @property
    def coded_channels(self) -> int:
        """The channels the streams and stored tiles hold."""
        return 1 if self.side.gray else self.channels

    @property
    def frame(self) -> Frame:
        return Frame(self.mode, self.height, self.width, self.tile, self.coded_channels)

    @property
    def version(self) -> int:
        """The oldest version that reads the file."""
        return oldest_version((type(s) for s in self.side.sections()), self.writer)

    @property
    def covers_samples(self) -> bool:
        """Whether the pixel CRC is over the samples the file gives back (FORMAT.md, Integrity), not the coded pixels."""
        return VERSIONS[self.version].samples_crc

    def crc_of(self, pixels: np.ndarray, original: Original | None) -> int:
        """The pixel CRC this header holds for decoded pixels (C, H, W) uint8, all the mode's
        channels: over the samples ``original`` restores from them where the version says so."""
        return pixel_crc(pixels, original if self.covers_samples else None)

    def _held(self) -> list[tuple[type, Section | None]]:
        row, flags = VERSIONS[self.version], self.side.flags
        return [(cls, getattr(self.side, cls.key)) for cls in LAYOUT if cls.held(row.tile_bits, flags)]

    def pack(self) -> bytes:
        version, flags, frame = self.version, self.side.flags, self.frame
        if not all(type(s).allowed(self.mode, flags) for s in self.side.sections()):
            raise ValueError(f"sections {[s.key for s in self.side.sections()]} do not go together on a {self.mode} image")
        fixed = FIXED.pack(MAGIC, version, MODE_CODES[self.mode], self.model_id, self.height, self.width,
                           self.tile, self.group, self.pixel_crc)
        width = VERSIONS[version].flag_bytes          # none: the version implies its flags
        parts = [fixed, flags.to_bytes(width, "little") if width else b""]
        parts += [section.write(frame) if section else StoredTiles.write_none(frame) for _, section in self._held()]
        body = b"".join(parts) + struct.pack(f"<{len(self.stream_lengths)}I", *self.stream_lengths)
        return body + struct.pack("<I", zlib.crc32(body))

    @property
    def size(self) -> int:
        frame = self.frame
        sections = sum(section.size(frame) if section else StoredTiles.bits_size(frame) for _, section in self._held())
        return FIXED.size + VERSIONS[self.version].flag_bytes + sections + 4 * len(self.stream_lengths) + 4

    def payload_size(self) -> int:
        """Bytes of the stored tiles' pixels after the streams."""
        return 0 if self.side.stored is None else self.side.stored.payload_size(self.frame)

    def describe(self) -> dict:
        """What each section says of itself, for ``pixcodec info``."""
        out = {}
        for cls in LAYOUT:
            out.update(cls.describe(getattr(self.side, cls.key), self.stream_lengths))
        return out


def parse(data: bytes) -> tuple[Header, list[bytes], bytes]:
    """Header, streams and stored-tile bytes of a .pxc file; every inconsistency is a PixcodecError."""
    if len(data) < 4 or data[:4] != MAGIC:
        raise PixcodecError("not a .pxc file (bad magic bytes)")
    if len(data) < FIXED.size:
        raise PixcodecError(INCOMPLETE)
    _, version, mode, model_id, height, width, tile, group, pixel_crc = FIXED.unpack_from(data)
    if version not in VERSIONS:
        raise PixcodecError(f"unsupported .pxc format version {version} (this pixcodec reads 1 to {NEWEST})")
    if mode not in MODES or not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE) or tile == 0 or group == 0:
        raise PixcodecError("corrupt .pxc header")
    if height * width > MAX_PIXELS:
        raise PixcodecError(f"refusing a {width}x{height} image: more than {MAX_PIXELS} pixels")
    if tile_count(height, width, tile) > MAX_TILES:
        raise PixcodecError(f"refusing a {width}x{height} image in {tile}x{tile} tiles: more than {MAX_TILES} tiles")
    mode, row, reader = MODES[mode][0], VERSIONS[version], Reader(data, FIXED.size)
    flags = implied_flags(version)
    if row.flag_bytes:
        flags = int.from_bytes(reader.take(row.flag_bytes, INCOMPLETE), "little")
        newest = sum(s.flag for s in new_in(version))      # a file names the oldest version that reads it
        allowed = all(cls.allowed(mode, flags) for cls in LAYOUT if flags & cls.flag)
        if flags & ~known_flags(version) or not flags & newest or not allowed:
            raise PixcodecError("corrupt .pxc header (flags)")
    frame = Frame(mode, height, width, tile, 1 if flags & FLAG_GRAY else MODES[MODE_CODES[mode]][1])
    found = {cls.key: cls.read(reader, frame) for cls in LAYOUT if cls.held(row.tile_bits, flags)}
    side = SideInfo(**found)
    skipped = None if side.stored is None else side.stored.bits
    n = stream_count(height, width, tile, group, skipped) + (side.latent is not None)   # the latent: stream 0
    start = reader.offset
    reader.take(4 * n + 4)
    if struct.unpack_from("<I", data, start + 4 * n)[0] != zlib.crc32(data[:start + 4 * n]):
        raise PixcodecError("corrupt .pxc header (checksum mismatch)")
    present = [type(s) for s in side.sections()]
    if oldest_version(present, version) != version:
        raise PixcodecError(f"corrupt .pxc header: a version {version} file with no "
                            f"{' or '.join(s.title for s in new_in(version))}")
    for section in side.sections():
        section.check(frame)
    lengths = list(struct.unpack_from(f"<{n}I", data, start))
    header = Header(mode, model_id, height, width, tile, group, pixel_crc, lengths, side, version)
    expected = reader.offset + sum(lengths) + header.payload_size()      # the sizes read, never re-encoded
    if len(data) != expected:
        raise PixcodecError(f".pxc file is {len(data)} bytes but its header promises {expected}: truncated or padded")
    streams, offset = [], reader.offset
    for length in lengths:
        streams.append(data[offset:offset + length])
        offset += length
    return header, streams, data[offset:]


def restamped(data: bytes, **changes) -> bytes:
    """A file's bytes with its header's sections changed (``metadata=...``): the streams are
    untouched, so nothing is coded again."""
    header = parse(data)[0]
    old_size, covered = header.size, header.covers_samples
    header.side = header.side.replace(**changes)
    if header.covers_samples != covered:
        raise ValueError("restamping would change what the pixel CRC covers")
    return header.pack() + data[old_size:]
