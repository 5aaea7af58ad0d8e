"""The format package: FORMAT.md's tables against the code's, the version rule, and every
section's bytes round-tripping through one header loop."""
import dataclasses
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from pixcodec.errors import PixcodecError
from pixcodec.pxc import (LAYOUT, VERSIONS, ChannelDeltas, GrayRGB, Header, Latent, Metadata, OnlineMixing, Original,
                          Palette,
                          Sharpness, SideInfo, StoredTiles, TunedHead, ValueSets, oldest_version, parse, stream_count)

FORMAT = (Path(__file__).resolve().parents[1] / "FORMAT.md").read_text()


def table(heading: str) -> list[list[str]]:
    """The rows of the first markdown table whose header row starts with ``heading``."""
    lines = FORMAT.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(f"| {heading} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_format_md_lists_the_sections_in_the_codes_order_with_their_flags():
    rows = table("section")
    assert [row[0].strip("`") for row in rows] == [cls.key for cls in LAYOUT]
    assert [row[1] for row in rows] == [str(cls.flag) if cls.flag else "–" for cls in LAYOUT]


def test_format_md_version_table_is_the_codes():
    rows = table("version")
    assert [int(row[0]) for row in rows] == sorted(VERSIONS)
    for row in rows:
        version = VERSIONS[int(row[0])]
        assert (int(row[1]), row[2] == "yes") == (version.flag_bytes, version.tile_bits), row
        assert row[3] == ("samples" if version.samples_crc else "pixels"), row
        assert re.findall(r"`(\w+)`", row[4]) == [cls.key for cls in version.sections], row


def test_side_info_fields_are_the_layout():
    assert [f.name for f in dataclasses.fields(SideInfo)] == [cls.key for cls in LAYOUT]


def test_a_file_names_the_oldest_version_that_holds_its_sections():
    assert oldest_version([]) == 1 and oldest_version([StoredTiles]) == 2 and oldest_version([Latent]) == 3
    assert oldest_version([StoredTiles, Latent, Sharpness]) == 4 and oldest_version([GrayRGB, TunedHead]) == 5


def icc_profile(extra: int = 0) -> bytes:
    """The smallest bytes an ICC reader takes for a profile: its size field and signature right."""
    profile = bytearray(132 + extra)
    profile[:4], profile[36:40] = len(profile).to_bytes(4, "big"), b"acsp"
    return bytes(profile)


def every_side(tiles: int, channels: int):
    """A SideInfo holding each section (and some of them together) for a header of ``tiles`` tiles."""
    k = torch.arange(tiles * channels).remainder(200).add(1).view(tiles, channels)
    yield "plain", SideInfo()
    yield "stored", SideInfo(stored=StoredTiles.of(tiles, [1, tiles - 1]))
    yield "latent", SideInfo(latent=Latent(), stored=StoredTiles.of(tiles, [0]))
    yield "values", SideInfo(values=ValueSets(tuple((0, 5, 255) for _ in range(channels))), sharpness=Sharpness(k))
    yield "tuned", SideInfo(tuned=TunedHead(torch.tensor([-3, 0, 127], dtype=torch.int8)), latent=Latent())
    yield "deltas", SideInfo(deltas=ChannelDeltas(torch.tensor([5, -127, 0]), torch.tensor([0, 1, -2])),
                             online=OnlineMixing(), stored=StoredTiles.of(tiles, [3]))
    yield "metadata", SideInfo(metadata=Metadata(icc_profile(), None, b"<x/>", ((b"tEXt", b"a\x00b"), (b"pHYs", bytes(9)))),
                               online=OnlineMixing())
    if channels == 3:
        yield "palette", SideInfo(palette=Palette(((0, 0, 0), (0, 1, 2), (9, 1, 2))), sharpness=Sharpness(k))
        low, alpha = np.arange(105, dtype=np.uint8).reshape(3, 5, 7), np.arange(35, dtype=np.uint16).reshape(5, 7) * 999
        yield "original", SideInfo(original=Original(6, 16, low, alpha), stored=StoredTiles.of(tiles, [2]))
        yield "png palette", SideInfo(original=Original(3, 4, palette=bytes(range(30)), palette_alpha=b"\x00\x80",
                                                        indices=np.zeros((5, 7), np.uint8)))
    else:
        yield "colour key", SideInfo(original=Original(0, 16, np.zeros((1, 5, 7), np.uint8), key=(513,)))


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_every_section_round_trips_through_pack_and_parse(mode):
    channels = 3 if mode == "RGB" else 1
    for name, side in every_side(tiles=6, channels=channels):     # 5x7 image in 3x3 tiles: 2x3 tiles
        header = Header(mode, bytes(range(16)), 5, 7, 3, 2, 0xDEADBEEF, [], side)
        stored = 0 if side.stored is None else side.stored.payload_size(header.frame)
        n = stream_count(5, 7, 3, 2, None if side.stored is None else side.stored.bits) + (side.latent is not None)
        header.stream_lengths = list(range(4, 4 + 4 * n, 4))
        packed = header.pack()
        assert len(packed) == header.size, name
        data = packed + bytes(sum(header.stream_lengths) + stored)
        back, streams, raw = parse(data)
        assert back.pack() == packed and back.version == oldest_version(type(s) for s in side.sections()), name
        assert [len(s) for s in streams] == header.stream_lengths and len(raw) == stored, name
        assert back.describe() == header.describe(), name


def test_a_header_holding_what_its_version_does_not_know_is_refused():
    side = SideInfo(tuned=TunedHead(torch.tensor([1], dtype=torch.int8)))
    header = Header("RGB", bytes(16), 4, 4, 4, 1, 0, [0], side)
    body = bytearray(header.pack()[:-4])
    body[4] = 4                                                    # claims version 4: no tuned head there
    forged = bytes(body) + struct.pack("<I", zlib.crc32(body))
    with pytest.raises(PixcodecError, match="flags"):
        parse(forged)
    with pytest.raises(ValueError):
        Header("L", bytes(16), 4, 4, 4, 1, 0, [0], SideInfo(palette=Palette(((1, 2, 3),)))).pack()


def test_stored_tiles_are_bits_not_a_set():
    """A header may declare millions of tiles: the section keeps one bit each, never a Python set."""
    side = StoredTiles.of(1 << 20, [0, (1 << 20) - 1])
    assert side.bits.dtype == np.bool_ and side.indices() == {0, (1 << 20) - 1}


@pytest.mark.parametrize("records,fragment", [
    (b"\x00", "metadata"),                                          # no records
    (b"\x01\x05" + struct.pack("<I", 1) + b"x", "metadata"),        # an unknown kind
    (b"\x02\x01" + struct.pack("<I", 1) + b"a" + b"\x01" + struct.pack("<I", 1) + b"b", "metadata"),   # ICC twice
    (b"\x01\x02" + struct.pack("<I", 0), "metadata"),                # empty EXIF
    (b"\x01\x04" + struct.pack("<I", 5) + b"IDATx", "metadata"),     # a chunk that is not metadata
    (b"\x01\x03" + struct.pack("<I", 1 << 30) + b"x", "truncated"),  # longer than the file
])
def test_forged_metadata_is_refused(records, fragment):
    """The section's bytes are rewritten and the header CRC recomputed, as a forger would."""
    side = SideInfo(metadata=Metadata(b"icc"))
    header = Header("RGB", bytes(16), 4, 4, 4, 1, 0, [0], side)
    packed = header.pack()
    at = len(packed) - 4 - 4 - len(side.metadata.write(header.frame))
    body = packed[:at] + records + packed[-8:-4]
    forged = body + struct.pack("<I", zlib.crc32(body))
    with pytest.raises(PixcodecError, match=fragment):
        parse(forged)
