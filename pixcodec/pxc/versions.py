"""Which format version holds what: the one table the writer and the reader's checks share.

A file names the oldest version that reads it, so a reader refuses a file whose version is
newer than its sections need (it could not have been written so), as well as one holding a
section its version does not know.
"""
from __future__ import annotations

from typing import NamedTuple

from .channel_deltas import ChannelDeltas
from .metadata import Metadata
from .online import OnlineMixing
from .original import Original
from .sections import GrayRGB, Latent, Sharpness, StoredTiles, TunedHead
from .value_sets import Palette, ValueSets


class Version(NamedTuple):
    flag_bytes: int             # the header's flags after the fixed fields: 0, 1 or 2 bytes (little-endian)
    tile_bits: bool             # ... and the stored-tile bits after it
    sections: tuple             # the sections a file of this version may hold


# The order sections are written in; the zero-byte ones (latent, gray) first.
LAYOUT = (Latent, GrayRGB, StoredTiles, ValueSets, Palette, Sharpness, TunedHead, Original, OnlineMixing, ChannelDeltas, Metadata)

VERSIONS = {
    1: Version(0, False, ()),
    2: Version(0, True, (StoredTiles,)),
    3: Version(0, True, (StoredTiles, Latent)),          # every version-3 file is two-part
    4: Version(1, True, (StoredTiles, Latent, GrayRGB, ValueSets, Palette, Sharpness)),
    5: Version(1, True, (StoredTiles, Latent, GrayRGB, ValueSets, Palette, Sharpness, TunedHead)),
    6: Version(1, True, (StoredTiles, Latent, GrayRGB, ValueSets, Palette, Sharpness, TunedHead, Original)),
    7: Version(1, True, (StoredTiles, Latent, GrayRGB, ValueSets, Palette, Sharpness, TunedHead, Original,
                         OnlineMixing)),
    8: Version(2, True, (StoredTiles, Latent, GrayRGB, ValueSets, Palette, Sharpness, TunedHead, Original,
                         OnlineMixing, ChannelDeltas)),
    9: Version(2, True, (StoredTiles, Latent, GrayRGB, ValueSets, Palette, Sharpness, TunedHead, Original,
                         OnlineMixing, ChannelDeltas, Metadata)),
}
NEWEST = max(VERSIONS)


def since(section: type) -> int:
    """The first version that can hold a section."""
    return min(v for v, row in VERSIONS.items() if section in row.sections)


def oldest_version(present) -> int:
    """The version a file holding these section classes names."""
    return max((since(s) for s in present), default=1)


def new_in(version: int) -> tuple:
    """The sections a version adds: a file of that version holds at least one of them."""
    return tuple(s for s in VERSIONS[version].sections if since(s) == version)


def known_flags(version: int) -> int:
    """The flag bits a file of this version may set."""
    return sum(s.flag for s in VERSIONS[version].sections)


def implied_flags(version: int) -> int:
    """A version without a flags byte implies the flagged sections it holds (3: two-part)."""
    return 0 if VERSIONS[version].flag_bytes else known_flags(version)
