"""What a ``.pxc`` header can carry beyond its fixed fields: one class per optional section.

Each section owns its bytes (``read`` / ``write``), its checks, what ``pixcodec info`` says of
it, and its part of the coding step (step.py). ``Section`` is the protocol; the header
(header.py) reads and writes the sections in the order of ``LAYOUT`` (versions.py), so a new
section is a class here, a row there, and its lines in FORMAT.md.

Checks come in two kinds, and the order matters for what a damaged file is told: ``read``
refuses what cannot be parsed (before the header CRC is checked), ``check`` what parses but
is inconsistent (after it).
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..errors import PixcodecError
from .tiles import chosen_area, tile_count, tiles_of

if TYPE_CHECKING:                  # reading a header needs numpy only: `pixcodec info` never loads torch
    import torch

    from .online import MixState

FLAG_LATENT, FLAG_VALUES, FLAG_GRAY, FLAG_SHARPNESS, FLAG_PALETTE, FLAG_TUNED = 1, 2, 4, 8, 16, 32
FLAG_ONLINE = 128
TRUNCATED = "truncated or corrupt .pxc header"


def tensor(array: np.ndarray) -> "torch.Tensor":
    """A torch view of a section's numpy data, for the coding step; torch loads only there."""
    import torch
    return torch.from_numpy(array)


class Frame(NamedTuple):
    """The fixed header fields a section's size and meaning depend on."""
    mode: str
    height: int
    width: int
    tile: int
    coded_channels: int         # the channels the streams and stored tiles hold

    @property
    def tiles(self) -> int:
        return tile_count(self.height, self.width, self.tile)


class Reader:
    """A cursor over the header's bytes; running short is a corrupt header, never an IndexError."""

    def __init__(self, data: bytes, offset: int):
        self.data, self.offset = data, offset

    def take(self, size: int, message: str = TRUNCATED) -> bytes:
        if len(self.data) < self.offset + size:
            raise PixcodecError(message)
        self.offset += size
        return bytes(self.data[self.offset - size:self.offset])

    def u16(self) -> int:
        return struct.unpack("<H", self.take(2))[0]


class Section:
    """One optional part of a header. ``flag`` is its bit in the flags byte (0: the version alone
    says whether the header holds it); ``key`` names it in ``SideInfo`` and ``pixcodec info``."""
    flag = 0
    key = ""
    title = ""                 # what a version that adds it says is missing without it
    reshapes_samples = False   # the samples a file gives back differ from its coded pixels

    @classmethod
    def held(cls, tile_bits: bool, flags: int) -> bool:
        """Whether a header of this layout holds the section (its bytes, or its meaning)."""
        return bool(flags & cls.flag)

    @classmethod
    def allowed(cls, mode: str, flags: int) -> bool:
        """Whether the flags byte may set it for an image of this mode beside these flags."""
        return True

    @classmethod
    def read(cls, reader: Reader, frame: Frame) -> "Section | None":
        return cls()

    def write(self, frame: Frame) -> bytes:
        return b""

    def size(self, frame: Frame) -> int:
        return len(self.write(frame))

    def check(self, frame: Frame) -> None:
        """Checks made after the header CRC (refusals the parser makes late, in LAYOUT order)."""

    @classmethod
    def describe(cls, section: "Section | None", stream_lengths: list[int]) -> dict:
        return {}


class Latent(Section):
    """Two-part file: stream 0 is an auto-encoder's latent code map (two_part.py); no bytes."""
    flag, key, title = FLAG_LATENT, "latent", "latent stream"

    @classmethod
    def describe(cls, section, stream_lengths):
        return {"latent_stream_bytes": stream_lengths[0] if section else 0}


class GrayRGB(Section):
    """An RGB image with R = G = B everywhere, coded as its one gray channel; no bytes."""
    flag, key, title = FLAG_GRAY, "gray", "gray RGB"

    @classmethod
    def allowed(cls, mode, flags):
        return mode == "RGB"

    @classmethod
    def describe(cls, section, stream_lengths):
        return {"coded_as_gray": section is not None}


class StoredTiles(Section):
    """Tiles kept as raw bytes: one bit per tile in raster order, then (after the streams) their
    pixels. Every header of version 2 or later holds the bits, set or not."""
    key, title = "stored", "stored tiles"

    def __init__(self, bits: np.ndarray):
        self.bits = bits                # (tiles,) bool

    @classmethod
    def held(cls, tile_bits, flags):
        return tile_bits

    @classmethod
    def of(cls, tiles: int, indices) -> "StoredTiles | None":
        """The section storing these raster indices among ``tiles``, or None when there are none."""
        bits = np.zeros(tiles, dtype=bool)
        bits[list(indices)] = True
        return cls(bits) if bits.any() else None

    @classmethod
    def read(cls, reader, frame):
        count = frame.tiles
        raw = np.frombuffer(reader.take(-(-count // 8)), np.uint8)
        bits = np.unpackbits(raw, bitorder="little")[:count].astype(bool)
        return cls(bits) if bits.any() else None

    def write(self, frame):
        return np.packbits(self.bits, bitorder="little").tobytes()

    @staticmethod
    def bits_size(frame: Frame) -> int:
        """The tile bits' bytes, which a header of version 2 or later holds whether or not any is set."""
        return -(-frame.tiles // 8)

    @classmethod
    def write_none(cls, frame: Frame) -> bytes:
        return bytes(cls.bits_size(frame))

    def size(self, frame):
        return self.bits_size(frame)

    @property
    def count(self) -> int:
        return int(self.bits.sum())

    def indices(self) -> set[int]:
        return set(np.flatnonzero(self.bits).tolist())

    def tiles(self, frame: Frame):
        return tiles_of(frame.height, frame.width, frame.tile, self.bits)

    def payload_size(self, frame: Frame) -> int:
        """Bytes of the stored tiles' pixels at the file's end (counted, not listed: a header may
        claim millions of stored tiles, and the file's length is checked against this first)."""
        return frame.coded_channels * chosen_area(frame.height, frame.width, frame.tile, self.bits)

    def payload(self, image: torch.Tensor, frame: Frame) -> bytes:
        """The stored tiles' pixels of a (coded channels, H, W) image."""
        return b"".join(image[:, t.rows, t.cols].contiguous().numpy().tobytes() for t in self.tiles(frame))

    def place(self, raw: bytes, image: torch.Tensor, frame: Frame) -> None:
        """Write the payload's tiles into ``image`` (``payload`` reversed)."""
        offset = 0
        for t in self.tiles(frame):
            size = frame.coded_channels * t.height * t.width
            pixels = np.frombuffer(raw, np.uint8, size, offset).reshape(-1, t.height, t.width)
            image[:, t.rows, t.cols] = tensor(pixels.copy())
            offset += size

    @classmethod
    def describe(cls, section, stream_lengths):
        return {"stored_tiles": 0 if section is None else section.count}


class Sharpness(Section):
    """Per tile (raster order, stored ones included) and coded channel, one byte k in 1..255:
    that tile's channel has its logits scaled by k/16 (numerics.ExactNumerics.probabilities)."""
    flag, key, title = FLAG_SHARPNESS, "sharpness", "sharpness"

    def __init__(self, k):
        self.values = np.asarray(k)         # (tiles, coded channels); uint8 when read (a header may hold millions)

    @property
    def k(self) -> "torch.Tensor":
        return tensor(self.values)

    @classmethod
    def read(cls, reader, frame):
        raw = reader.take(frame.tiles * frame.coded_channels)
        if 0 in raw:
            raise PixcodecError("corrupt .pxc header: a sharpness of 0")
        return cls(np.frombuffer(raw, np.uint8).reshape(-1, frame.coded_channels).copy())

    def write(self, frame):
        if self.values.shape != (frame.tiles, frame.coded_channels) or not ((self.values >= 1) & (self.values <= 255)).all():
            raise ValueError("a sharpness byte, 1 to 255, per tile and coded channel")
        return self.values.astype(np.uint8).tobytes()

    def size(self, frame):
        return frame.tiles * frame.coded_channels

    def of_tiles(self, index: torch.Tensor) -> torch.Tensor:
        """(tiles, coded channels) long k of the tiles at these raster indices."""
        return self.k[index].long()

    @staticmethod
    def rows(tile_k: torch.Tensor, ch: int, pixels: int) -> torch.Tensor:
        """Channel ch's k (from ``of_tiles``) for an engine step's rows, batch-major."""
        return tile_k[:, ch].repeat_interleave(pixels)

    @classmethod
    def describe(cls, section, stream_lengths):
        return {"sharpness_bytes": None if section is None else section.values.size}


class OnlineMixing(Section):
    """The file is coded through the online mixing stage (online.py's ``MixState``); no bytes."""
    flag, key, title = FLAG_ONLINE, "online", "online mixing"

    @staticmethod
    def state(channels: int, exact) -> "MixState":
        """A fresh state for a file of these coded channels, under ``exact``'s exp table (its
        first entry is every row's weight at its mode)."""
        from .online import MixState
        return MixState(channels, float(exact.tables["exp"][0]))

    @classmethod
    def describe(cls, section, stream_lengths):
        return {"online_mixing": section is not None}
