"""Which format version holds what: the one table the writer and the reader's checks share.

A file names the oldest version that reads it, so a reader refuses a file whose version is
newer than its sections need (it could not have been written so), as well as one holding a
section its version does not know. From version 10 the pixel CRC covers the samples a file
gives back rather than the coded pixels; the two differ only beside a section that reshapes
the samples (``original``), so only a file holding one moves to version 10.
"""
from __future__ import annotations

from typing import NamedTuple

from .channel_deltas import ChannelDeltas
from .context_mixing import ContextMixing, ContextMixing2, ContextMixing3
from .metadata import Metadata
from .original import Original
from .sections import GrayRGB, Latent, OnlineMixing, Sharpness, StoredTiles
from .tuned_head import TunedHead
from .value_sets import Palette, ValueSets


class Version(NamedTuple):
    flag_bytes: int             # the header's flags after the fixed fields: 0, 1 or 2 bytes (little-endian)
    tile_bits: bool             # ... and the stored-tile bits after it
    sections: tuple             # the sections a file of this version may hold
    samples_crc: bool = False   # the pixel CRC covers the samples returned, not the coded pixels


# The order sections are written in; the zero-byte ones (latent, gray) first.
LAYOUT = (Latent, GrayRGB, StoredTiles, ValueSets, Palette, Sharpness, TunedHead, Original, OnlineMixing, ContextMixing, ContextMixing2,
          ContextMixing3, ChannelDeltas, Metadata)

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
    10: Version(2, True, (StoredTiles, Latent, GrayRGB, ValueSets, Palette, Sharpness, TunedHead, Original,
                          OnlineMixing, ChannelDeltas, Metadata), samples_crc=True),
    11: Version(2, True, (StoredTiles, Latent, GrayRGB, ValueSets, Palette, Sharpness, TunedHead, Original,
                          OnlineMixing, ChannelDeltas, Metadata, ContextMixing), samples_crc=True),
    12: Version(2, True, (StoredTiles, Latent, GrayRGB, ValueSets, Palette, Sharpness, TunedHead, Original,
                          OnlineMixing, ChannelDeltas, Metadata, ContextMixing, ContextMixing2), samples_crc=True),
    13: Version(2, True, (StoredTiles, Latent, GrayRGB, ValueSets, Palette, Sharpness, TunedHead, Original,
                          OnlineMixing, ChannelDeltas, Metadata, ContextMixing, ContextMixing2, ContextMixing3), samples_crc=True),
}
NEWEST = max(VERSIONS)
SAMPLES_CRC = min(v for v, row in VERSIONS.items() if row.samples_crc)


def since(section: type, writer: int = NEWEST) -> int:
    """The version a writer of versions up to ``writer`` needs for a section: the first that can
    hold it, and for one that reshapes the samples, the first whose CRC covers them."""
    first = min(v for v, row in VERSIONS.items() if section in row.sections)
    return max(first, SAMPLES_CRC) if section.reshapes_samples and writer >= SAMPLES_CRC else first


def oldest_version(present, writer: int = NEWEST) -> int:
    """The version a file holding these section classes names, as a writer of versions up to
    ``writer`` named it (a reader checks a file against the rule of its own version)."""
    return max((since(s, writer) for s in present), default=1)


def new_in(version: int) -> tuple:
    """The sections that make a file this version: it holds at least one of them."""
    return tuple(s for s in VERSIONS[version].sections if since(s, version) == version)


def known_flags(version: int) -> int:
    """The flag bits a file of this version may set."""
    return sum(s.flag for s in VERSIONS[version].sections)


def implied_flags(version: int) -> int:
    """A version without a flags byte implies the flagged sections it holds (3: two-part)."""
    return 0 if VERSIONS[version].flag_bytes else known_flags(version)
