"""What the encoder fits to each image: the palette (value sets and sharpness are in test_codec)."""
import struct
import zlib
from pathlib import Path

import pytest
import torch

from pixcodec.encoder.adapt import MAX_COLORS
from pixcodec.codec import Codec
from pixcodec.pxc import Palette, parse
from pixcodec.errors import PixcodecError

from conftest import fuzz, tiny_model
from test_codec import golden_module

DATA = Path(__file__).parent / "data"
# Two colours share red 10, two share red and green (10, 200): G and B are not always known.
COLORS = torch.tensor([[10, 200, 30], [10, 200, 90], [10, 40, 60], [120, 40, 60], [250, 250, 250], [3, 7, 11],
                       [200, 100, 0]], dtype=torch.uint8)


def paletted(h, w, colors=COLORS, seed=0, scatter=0.2):
    """Blocks of the palette's colours, a ``scatter`` share of pixels picked at random: (3, H, W)."""
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pick = (i // 4 + j // 5) % len(colors)
    noise = torch.randint(0, len(colors), (h, w), generator=torch.Generator().manual_seed(seed))
    pick = torch.where(torch.rand(h, w, generator=torch.Generator().manual_seed(seed + 1)) < scatter, noise, pick)
    return colors[pick].permute(2, 0, 1).contiguous()


def decode_alone(codec_args, data):
    """Decode with one thread and one tile a stream: another grouping than the encoder's."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        return Codec(*codec_args, group=1, fallback=False).decompress(data)[0]
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("shape", [(1, 1), (1, 40), (40, 1), (23, 29)])
def test_a_palette_image_is_coded_among_its_colours(shape):
    """The file lists the colours; each channel is coded among the values that occur with the
    pixel's earlier channels: smaller than value sets alone, exact under another grouping and
    thread count. One pixel is too small for the palette's bytes to pay."""
    model = tiny_model("pixelcnn", 3)
    img = paletted(*shape)
    with_palette = Codec(model, tile=8, fallback=False).compress(img)
    without = Codec(model, tile=8, fallback=False, palette=False).compress(img)
    header = parse(with_palette.data)[0]
    assert torch.equal(decode_alone((model, 8), with_palette.data), img)
    if shape == (1, 1):
        assert header.side.palette is None and with_palette.data == without.data
        return
    colors = sorted(set(map(tuple, img.flatten(1).t().tolist())))
    assert header.version == 7 and header.side.palette.colors == tuple(colors) and header.side.values is None
    assert len(with_palette.data) < len(without.data) and with_palette.nll_bits < without.nll_bits


def test_a_channel_the_palette_settles_is_not_coded():
    """When every (R, G) has one blue, B is known: same stream bytes as coding it would not be."""
    model = tiny_model("pixelcnn", 3)
    colors = COLORS[[0, 2, 3, 4, 5]]                                  # (R, G) pairs now all distinct
    img = paletted(16, 16, colors)
    palette = Palette.of(img, MAX_COLORS)
    assert palette.known(2) and not palette.known(1) and not palette.known(0)
    data = Codec(model, tile=8, fallback=False).compress(img).data
    assert parse(data)[0].side.palette and torch.equal(decode_alone((model, 8), data), img)


def test_a_tile_the_palette_brings_under_8_bits_is_coded_not_stored():
    """Through the trained model: a tile of randomly placed palette colours costs it more than
    8 bits a subpixel, so plainly coded it is stored raw; through the palette it is coded, smaller."""
    from pixcodec import bundled
    model = bundled.load("photo-rgb")
    img = paletted(16, 24, scatter=0.0)
    img[:, 8:, 16:] = COLORS[torch.randint(0, len(COLORS), (8, 8), generator=torch.Generator().manual_seed(5))
                             ].permute(2, 0, 1)
    with_palette, without = Codec(model, tile=8).compress(img), Codec(model, tile=8, palette=False, value_sets=False).compress(img)
    header = parse(with_palette.data)[0]
    assert parse(without.data)[0].side.stored.indices() == {5} and header.side.stored is None and header.side.palette
    assert len(with_palette.data) < len(without.data)
    assert torch.equal(Codec(model, tile=8, group=1).decompress(with_palette.data)[0], img)


def test_too_many_colours_make_no_palette():
    i = torch.arange(MAX_COLORS + 1)
    many = torch.stack([i % 256, i // 256, i % 7]).to(torch.uint8).view(3, 1, -1)
    assert Palette.of(many, MAX_COLORS) is None and Palette.of(many[:, :, :MAX_COLORS], MAX_COLORS) is not None
    assert Palette.of(many[:1], MAX_COLORS) is None                               # gray: value sets do that job


def rewritten(data, edit):
    """data with its header bytes edited by ``edit(bytearray)`` and its header CRC made good again."""
    size = parse(data)[0].size
    body = bytearray(data[:size - 4])
    edit(body)
    return bytes(body) + struct.pack("<I", zlib.crc32(body)) + data[size:]


def test_a_bad_palette_header_is_refused():
    data = (DATA / "golden_palette.pxc").read_bytes()
    first = 38 + 1 + 1 + 2                     # flags, 1 byte of tile bits (4 tiles), colour count
    swapped = lambda b: b.__setitem__(slice(first, first + 6), b[first + 3:first + 6] + b[first:first + 3])  # noqa: E731
    repeated = lambda b: b.__setitem__(slice(first + 3, first + 6), b[first:first + 3])                    # noqa: E731
    for edit in (swapped, repeated):
        with pytest.raises(PixcodecError, match="palette"):
            parse(rewritten(data, edit))
    with pytest.raises(PixcodecError, match="palette"):
        parse(rewritten(data, lambda b: b.__setitem__(slice(first - 2, first), bytes(2))))   # no colours
    for flags in (16 | 2, 16 | 4):                                   # with value sets, with gray
        with pytest.raises(PixcodecError, match="flags"):
            parse(rewritten(data, lambda b: b.__setitem__(38, flags)))
    with pytest.raises(PixcodecError, match="flags"):
        parse(rewritten(data, lambda b: b.__setitem__(5, 0)))        # a palette for a gray image


def test_a_damaged_palette_file_decodes_exactly_or_fails_cleanly():
    golden = golden_module()
    codec, data = golden.golden_codec("golden_palette.pxc"), (DATA / "golden_palette.pxc").read_bytes()
    refused = fuzz(lambda d: codec.decompress(d)[0], data, golden.golden_palette_image(), 100, seed=2)
    assert refused > 80


def test_sharpness_costs_are_the_same_with_exps_floored_at_their_fast_range(monkeypatch):
    """Measure.add floors scaled logits at -87, where float32's exp leaves its slow path: the
    terms it changes are below 2^-126 beside a row's 1, and the costs come out the same."""
    from pixcodec.encoder import adapt
    logits = torch.randn(300, 256, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 400
    symbols = torch.randint(0, 256, (300,), generator=torch.Generator().manual_seed(1))
    costs = []
    for floor in (adapt.EXP_FLOOR, -float("inf")):
        monkeypatch.setattr(adapt, "EXP_FLOOR", floor)
        measure = adapt.Measure(torch.zeros(1, 40, 40, dtype=torch.uint8), 3, False, True, False)
        measure.add(torch.tensor([0, 1, 2]), 0, 0, logits, torch.ones(300, 256), symbols, [])
        costs.append(measure.costs)
    d = logits - logits.amax(1, keepdim=True)
    assert (d < -87 * 4).double().mean() > 0.5 and (d[d < 0] > -87 / 16).any()    # floored and kept terms
    assert torch.equal(costs[0], costs[1])
