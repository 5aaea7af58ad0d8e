"""Every PNG a person has: each colour type and bit depth, interlaced, with alpha, palettes and
transparency, coded and restored sample for sample; corrupt files refused. Checked against
libpng (through imagecodecs), a reader independent of the pypng that compress uses."""
from pathlib import Path

import numpy as np
import pytest
import torch

from pixcodec.codec import Codec
from pixcodec.errors import PixcodecError
from pixcodec.images.formats import encode
from pixcodec.images.imageio import png_bytes, read_image
from pixcodec.images.pngfile import write_png
from pixcodec.pxc import parse

from conftest import SHARED_DATA, tiny_model
from test_cli_codec import clean_error, run

imagecodecs = pytest.importorskip("imagecodecs")
SHIPPED = Path(__file__).parent / "data" / "pngsuite"         # a PngSuite selection (LICENSE beside)
SUITE = SHARED_DATA / "pngsuite"


@pytest.fixture(scope="module")
def codec():
    return Codec(tiny_model("pixelcnn", 3), tuning=False, sharpness=False)


def round_trip(codec: Codec, path: Path) -> bytes:
    """The PNG that compress, then decompress, give for ``path``."""
    pixels, mode, original = read_image(path)
    data = codec.compress(pixels, mode, original=original).data
    back, mode = codec.decompress(data)
    original = parse(data)[0].side.original
    return encode(back.numpy(), mode, ".png", lambda: png_bytes(back, mode) if original is None
                  else write_png(back, original), original, None)[0]        # as decompress writes it, read back


def same_samples(a: bytes, b: bytes) -> bool:
    x, y = imagecodecs.png_decode(a), imagecodecs.png_decode(b)
    return x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)


@pytest.mark.parametrize("name", sorted(p.name for p in SHIPPED.glob("[bt]*.png")))
def test_each_kind_of_png_comes_back_sample_for_sample(codec, name):
    path = SHIPPED / name
    assert same_samples(path.read_bytes(), round_trip(codec, path))


@pytest.mark.parametrize("name", sorted(p.name for p in SHIPPED.glob("x*.png")))
def test_a_corrupt_png_is_refused_with_one_line(tmp_path, name):
    with pytest.raises(PixcodecError, match="cannot read"):
        read_image(SHIPPED / name)
    clean_error(run("compress", SHIPPED / name, "-o", tmp_path / "x.pxc"))
    assert not (tmp_path / "x.pxc").exists()


def test_what_is_kept_beside_the_coded_image():
    """16-bit samples: high bytes coded, low bytes kept; 2-bit gray coded as multiples of 85;
    a palette's colours coded, its entries and tRNS kept; alpha and colour keys kept."""
    pixels, mode, original = read_image(SHIPPED / "basn2c16.png")
    assert mode == "RGB" and original.depth == 16 and original.low.shape == (3, 32, 32)
    pixels, mode, original = read_image(SHIPPED / "basn0g02.png")
    assert mode == "L" and original.depth == 2 and set(torch.unique(pixels).tolist()) <= {0, 85, 170, 255}
    pixels, mode, original = read_image(SHIPPED / "tbbn3p08.png")
    assert mode == "RGB" and original.color_type == 3 and original.palette_alpha and original.indices is None
    assert read_image(SHIPPED / "tm3n3p02.png")[2].indices is not None        # entries share a colour
    assert read_image(SHIPPED / "tbrn2c08.png")[2].colour_key == (255, 255, 255)
    assert read_image(SHIPPED / "basn6a08.png")[2].alpha.dtype == np.uint8
    assert read_image(SHIPPED / "basn0g01.png")[1:] == ("1", None)            # plain 1-bit: as before


def test_through_the_command_line(tmp_path):
    source = SHIPPED / "basn6a16.png"
    model = tmp_path / "m.pt"
    from pixcodec import checkpoint
    checkpoint.save(model, tiny_model("pixelcnn", 3))
    assert run("compress", source, "-m", model, "-o", tmp_path / "a.pxc", "--verify").exit_code == 0
    info = run("info", tmp_path / "a.pxc", "--json")
    # version 13 (context mixing, revision 3): the pixel CRC covers the 16-bit samples and alpha; the PNG's gAMA chunk travels in the metadata section
    assert '"format_version": 13' in info.stdout and "16-bit, alpha" in info.stdout and '"metadata": ["gAMA"]' in info.stdout
    assert run("decompress", tmp_path / "a.pxc", "-m", model, "-o", tmp_path / "b.png").exit_code == 0
    assert same_samples(source.read_bytes(), (tmp_path / "b.png").read_bytes())


def test_a_forged_original_section_is_refused(codec):
    pixels, mode, original = read_image(SHIPPED / "basn3p04.png")
    data = codec.compress(pixels, mode, original=original).data
    header, streams, raw = parse(data)
    shrunk = header.side.original
    shrunk.palette = shrunk.palette[:-3]              # a decoded colour is no longer in the palette
    with pytest.raises(PixcodecError, match="palette"):
        forged = header.pack() + b"".join(streams) + raw
        write_png(codec.decompress(forged)[0], parse(forged)[0].side.original)


@pytest.mark.skipif(not SUITE.is_dir(), reason="needs ../shared/data/pngsuite")
def test_the_whole_png_suite():
    """All 161 valid PngSuite files (and its logo) round-trip exactly; its 14 corrupt files are
    refused. The coding is one plain pass here: the restoration is what is under test."""
    codec = Codec(tiny_model("pixelcnn", 3), tuning=False, sharpness=False, value_sets=False, palette=False)
    valid, refused = 0, 0
    for path in sorted(SUITE.glob("*.png")):
        if path.name.startswith("x"):
            with pytest.raises(PixcodecError):
                read_image(path)
            refused += 1
        else:
            assert same_samples(path.read_bytes(), round_trip(codec, path)), path.name
            valid += 1
    assert valid == 162 and refused == 14


def test_a_png_bomb_is_refused_before_decoding(tmp_path):
    """pypng has no decompression-bomb limit of its own: a 10-gigapixel claim is refused as Pillow would."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(1000))) + chunk(b"IEND", b""))
    (tmp_path / "bomb.png").write_bytes(data)
    with pytest.raises(PixcodecError, match="pixels"):
        read_image(tmp_path / "bomb.png")


def test_the_version_6_golden_file_decodes_to_its_samples():
    """golden_original.pxc (never regenerated) pins the original section: 16-bit RGBA, low bytes
    and alpha as LZMA planes. Re-encoding gives the same streams and samples (the planes' LZMA
    bytes could differ under another liblzma, so they are not compared)."""
    from test_codec import golden_module
    from pixcodec.api import as_array, as_pixels
    golden = golden_module()
    codec, data = golden.golden_codec("golden_original.pxc"), (SHIPPED.parent / "golden_original.pxc").read_bytes()
    header, streams, raw = parse(data)
    assert header.version == 6 and header.side.original.depth == 16
    pixels, mode = codec.decompress(data)
    assert np.array_equal(as_array(pixels, mode, header.side.original), golden.golden_original_samples())
    again = codec.compress(*as_pixels(golden.golden_original_samples())[:2],
                           original=as_pixels(golden.golden_original_samples())[2]).data
    assert parse(again)[1:] == (streams, raw)


def test_the_version_10_golden_file_decodes_to_its_samples_and_re_encodes():
    """golden_samples_crc.pxc (never regenerated) pins version 10: the same streams as the version-6
    file, its pixel CRC over the samples given back. Re-encoding gives its bytes wherever liblzma
    packs the planes as it did here, its streams and CRC everywhere."""
    from test_codec import golden_module
    from pixcodec.api import as_array, as_pixels
    import zlib
    from pixcodec.pxc.original import pixel_crc
    golden = golden_module()
    codec = golden.golden_codec("golden_samples_crc.pxc")
    data, old = (SHIPPED.parent / "golden_samples_crc.pxc").read_bytes(), (SHIPPED.parent / "golden_original.pxc").read_bytes()
    header, streams, raw = parse(data)
    assert header.version == 10 and parse(old)[1:] == (streams, raw) and header.pixel_crc != parse(old)[0].pixel_crc
    pixels, mode = codec.decompress(data)
    samples = as_array(pixels, mode, header.side.original)
    assert np.array_equal(samples, golden.golden_original_samples())
    by_the_format = zlib.crc32(golden.golden_original_samples().astype("<u2").tobytes())    # (H, W, 4), little-endian
    assert header.pixel_crc == pixel_crc(pixels.numpy(), header.side.original) == by_the_format
    coded, mode, original = as_pixels(golden.golden_original_samples())
    again = codec.compress(coded, mode, original=original).data
    same_planes = all(parse(again)[0].side.original.planes[k].packed == p.packed
                      for k, p in header.side.original.planes.items())
    assert parse(again)[1:] == (streams, raw) and parse(again)[0].pixel_crc == header.pixel_crc
    assert again == data or not same_planes


def test_a_damaged_version_6_file_gives_its_samples_or_one_error():
    from conftest import fuzz
    from test_codec import golden_module
    from pixcodec.api import as_array
    golden = golden_module()
    codec, data = golden.golden_codec("golden_original.pxc"), (SHIPPED.parent / "golden_original.pxc").read_bytes()

    def samples(d):
        pixels, mode = codec.decompress(d)
        return torch.from_numpy(as_array(pixels, mode, parse(d)[0].side.original).astype(np.int64))
    expected = torch.from_numpy(golden.golden_original_samples().astype(np.int64))
    assert fuzz(samples, data, expected, 150, seed=5, truncate_every=10) > 120
