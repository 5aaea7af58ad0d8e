"""Forged side sections: LZMA bombs in ``original``, metadata records that cannot be valid,
sections another writer made, and a pixel CRC that covers the samples given back (version 10).
Every forged file is made here, in the test, and each must end in the image or one clean error,
in time and memory proportional to what the file really holds."""
import json
import lzma
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import header_lies, tiny_model
from test_cli_codec import clean_error, run
from pixcodec import checkpoint
from pixcodec.api import as_array, as_pixels
from pixcodec.codec import Codec
from pixcodec.errors import IntegrityError, PixcodecError
from pixcodec.images.formats import read_back_png, with_png_metadata
from pixcodec.pxc import ChannelDeltas, Header, Metadata, Original, SideInfo, parse, stream_count
from pixcodec.pxc.original import ALPHA, LOW, Plane, inflate

TESTS = Path(__file__).parent
CHUNK = 2 << 20            # what one LZMA2 chunk of zeros inflates to


def lzma2_chunks(stream: bytes) -> list[bytes]:
    """A raw LZMA2 stream cut at its chunk headers (control byte, sizes, properties)."""
    at, out = 0, []
    while stream[at]:
        control = stream[at]
        if control in (1, 2):
            length = 3 + int.from_bytes(stream[at + 1:at + 3], "big") + 1
        else:
            length = 5 + (control >= 0xC0) + int.from_bytes(stream[at + 3:at + 5], "big") + 1
        out.append(stream[at:at + length])
        at += length
    return out + [stream[at:at + 1]]


def unpacked(chunk: bytes) -> int:
    """The bytes an LZMA2 chunk inflates to."""
    if chunk[0] in (1, 2):
        return int.from_bytes(chunk[1:3], "big") + 1
    return ((chunk[0] & 31) << 16) + int.from_bytes(chunk[1:3], "big") + 1


def lzma_bomb(size: int) -> bytes:
    """A raw LZMA2 stream (pixcodec's plane filters) inflating to ``size`` zero bytes in about 150
    bytes a 2 MiB: once the coder's state has settled, each chunk of zeros is the same bytes, so
    one is repeated; the chunks of a stream of the rest (from a dictionary reset) end it exactly."""
    def chunks(n):
        return lzma2_chunks(lzma.compress(bytes(n), format=lzma.FORMAT_RAW, filters=[
            {"id": lzma.FILTER_DELTA, "dist": 1}, {"id": lzma.FILTER_LZMA2, "preset": 6}]))[:-1]
    first, middle = chunks(4 * CHUNK)[:2]
    repeats = max(0, (size - unpacked(first)) // unpacked(middle))
    rest = size - unpacked(first) - repeats * unpacked(middle)
    return first + middle * repeats + (b"".join(chunks(rest)) if rest else b"") + b"\x00"


def bomb_file(model_id: bytes, side: int, planes=True) -> bytes:
    """A header claiming a side x side 16-bit RGBA image whose low-byte and alpha planes are LZMA
    bombs of exactly the claimed sizes (3 and 2 bytes a pixel), with empty streams."""
    pixels = side * side
    original = Original(6, 16, Plane((3, side, side), np.uint8, packed=lzma_bomb(3 * pixels)),
                        Plane((side, side), ">u2", packed=lzma_bomb(2 * pixels)))
    n = stream_count(side, side, 64, 256)
    return Header("RGB", model_id, side, side, 64, 256, 0, [0] * n, SideInfo(original=original)).pack()


def rgba16(h: int = 6, w: int = 7) -> np.ndarray:
    i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return np.stack([i * 9000 + j * 77, j * 8000 + 5, (i * j * 1234) % 65536, 65535 - i * 300], axis=2).astype(np.uint16)


@pytest.fixture(scope="module")
def codec():
    return Codec(tiny_model("pixelcnn", 3), tile=4, group=2, tuning=False, deltas=False)


@pytest.fixture(scope="module")
def coded(codec):
    pixels, mode, original = as_pixels(rgba16())
    return codec.compress(pixels, mode, original=original).data


def refile(data: bytes, **changes) -> bytes:
    """The file with header sections replaced (``original=...``), the header packed again with a
    good CRC and the same version rule: a forgery as a forger would make it."""
    header, streams, raw = parse(data)
    header.side = header.side.replace(**changes)
    return header.pack() + b"".join(streams) + raw


def decoded_samples(codec: Codec, data: bytes) -> np.ndarray:
    pixels, mode = codec.decompress(data)
    return as_array(pixels, mode, parse(data)[0].side.original)


def test_the_bomb_helper_inflates_to_what_it_claims():
    assert len(inflate(lzma_bomb(3 * CHUNK + 5), 3 * CHUNK + 5)) == 3 * CHUNK + 5 and len(lzma_bomb(64 * CHUNK)) < 20000


def fresh_process(script: str, cwd: Path) -> dict:
    """The JSON that ``script`` prints last, run in a fresh interpreter (its memory is its own)."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="measures memory through /proc")
def test_info_and_decompress_on_lzma_bombs_inflate_nothing(tmp_path):
    """The issue's files: 16384^2 16-bit RGBA (within the decode budget) and 32768^2 (four times
    over it), ~200 and ~800 KB, whose planes would inflate to 1.25 and 5 GiB. info reads them
    without torch in little memory; decompress stops at the empty streams or the budget."""
    sizes = {}
    for side in (16384, 32768):
        (tmp_path / f"bomb{side}.pxc").write_bytes(bomb_file(bytes(16), side))
        sizes[side] = (tmp_path / f"bomb{side}.pxc").stat().st_size
    info = fresh_process("""
import json, sys, time
from pixcodec.cli.main import main
out = {}
for side in (16384, 32768):
    start = time.perf_counter()
    sys.argv = ["pixcodec", "info", f"bomb{side}.pxc", "--json"]
    try:
        main()
    except SystemExit as e:
        out[side] = [e.code, time.perf_counter() - start]
# this process's own peak: ru_maxrss would keep the forking parent's through exec
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps([out, "torch" in sys.modules, peak / 1024]))
""", tmp_path)
    times, torch_loaded, peak_mb = info
    assert 150_000 < sizes[16384] < 250_000 and sizes[32768] < 1_000_000, sizes
    assert [code for code, _ in times.values()] == [0, 0] and max(t for _, t in times.values()) < 5, times
    assert not torch_loaded and peak_mb < 100, info
    decode = fresh_process(f"""
import json, resource, sys
sys.path.insert(0, {str(TESTS)!r})
from conftest import header_lies, tiny_model
from pixcodec.codec import Codec
from pixcodec.errors import PixcodecError
codec = Codec(tiny_model("pixelcnn", 3))
codec.id = bytes(16)                              # the bombs' model id
base, out = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, []
for side in (16384, 32768):
    try:
        codec.decompress(open(f"bomb{{side}}.pxc", "rb").read())
        out.append("decoded")
    except PixcodecError as e:
        out.append(str(e))
print(json.dumps([out, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024]))
""", tmp_path)
    (small, large), peak_mb = decode
    assert "ended long before" in small and "megapixels" in large and peak_mb < 200, decode


def test_a_plane_inflating_past_its_size_is_refused_in_bounded_memory(codec, coded):
    header = parse(coded)[0]
    low = header.side.original.planes[LOW]
    bombed = Original(6, 16, Plane(low.shape, np.uint8, packed=lzma_bomb(256 * CHUNK)),   # 512 MiB for 126 bytes
                      header.side.original.planes[ALPHA])
    with pytest.raises(PixcodecError, match="inflates past its size"):
        codec.decompress(refile(coded, original=bombed))
    stream = low.packed
    for forged, why in ((stream[:-1], "short of its size"), (stream + b"\x00", "padded"),
                        (b"\x01\xff" + stream[2:], "undecodable|short")):
        plane = Plane(low.shape, np.uint8, packed=forged)
        with pytest.raises(PixcodecError, match=why):
            codec.decompress(refile(coded, original=Original(6, 16, plane, header.side.original.planes[ALPHA])))


def hand_lzma2(raw: bytes) -> bytes:
    """A second, independent plane writer, from FORMAT.md alone: the byte-wise delta filter, then
    LZMA2 as uncompressed chunks (control 1: dictionary reset; 2: none) of at most 64 KiB."""
    data = np.frombuffer(raw, np.uint8)
    delta = np.diff(data, prepend=np.uint8(0)).astype(np.uint8).tobytes()
    chunks = [bytes([1 if at == 0 else 2]) + struct.pack(">H", len(delta[at:at + 65536]) - 1) + delta[at:at + 65536]
              for at in range(0, len(delta), 65536)]
    return b"".join(chunks) + b"\x00"


def test_planes_from_another_lzma2_writer_are_read(codec, coded):
    """Sizes come from the bytes read: planes written uncompressed by hand, or by liblzma with other
    settings (a dictionary larger than pixcodec's, other literal and position bits), all decode."""
    expected = decoded_samples(codec, coded)
    original = parse(coded)[0].side.original
    low, alpha = original.low, original.alpha
    big = [{"id": lzma.FILTER_DELTA, "dist": 1}, {"id": lzma.FILTER_LZMA2, "dict_size": 64 << 20, "lc": 0, "lp": 2, "pb": 0}]
    for pack in (hand_lzma2, lambda raw: lzma.compress(raw, format=lzma.FORMAT_RAW, filters=big)):
        forged = Original(6, 16, Plane(low.shape, np.uint8, packed=pack(low.tobytes())),
                          Plane(alpha.shape, ">u2", packed=pack(alpha.astype(">u2").tobytes())))
        data = refile(coded, original=forged)
        assert data != coded and np.array_equal(decoded_samples(codec, data), expected)
        assert parse(data)[0].size == len(data) - sum(parse(data)[0].stream_lengths) - len(parse(data)[2])


def test_a_dictionary_as_large_as_the_plane_is_lawful():
    """A 10 MiB plane whose second half repeats its first from 5 MiB back: past pixcodec's own
    8 MiB dictionary, which a reader with that dictionary would refuse."""
    half = np.random.default_rng(0).integers(0, 256, 5 << 20, dtype=np.uint8).tobytes()
    raw = half + half
    packed = lzma.compress(raw, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_DELTA, "dist": 1},
                                                                  {"id": lzma.FILTER_LZMA2, "dict_size": 16 << 20,
                                                                   "mode": lzma.MODE_FAST, "nice_len": 273}])
    assert len(packed) < 0.6 * len(raw) and bytes(inflate(packed, len(raw))) == raw


def rice(values, k: int) -> str:
    bits = ""
    for v in values:
        u = 2 * v if v >= 0 else -2 * v - 1
        bits += "1" * (u >> k) + "0" + (format(u & ((1 << k) - 1), f"0{k}b") if k else "")
    return bits


def test_channel_deltas_with_any_rice_parameter_are_read():
    """FORMAT.md allows any k from 0 to 7: a section written by hand with k = 7 and 1 decodes to
    the same image as pixcodec's own choice of k."""
    model = tiny_model("pixelcnn", 3)
    n = ChannelDeltas.channel_count(model)
    gains, shifts = [(i * 7) % 11 - 5 for i in range(n)], [(i * 5) % 9 - 4 for i in range(n)]
    codec = Codec(model, tile=4, group=2, tuning=False, deltas=ChannelDeltas(gains, shifts))
    image = torch.randint(0, 256, (3, 7, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    data = codec.compress(image).data
    header, streams, raw = parse(data)
    bits = rice(gains, 7) + rice(shifts, 1)
    bits += "0" * (-len(bits) % 8)
    stream = int(bits, 2).to_bytes(len(bits) // 8, "big")
    section = struct.pack("<HBH", 2 * n, 7 * 16 + 1, len(stream)) + stream
    ours = header.side.deltas.write(header.frame)
    assert ours != section and bytes(header.pack()).count(ours) == 1
    packed = header.pack()
    body = packed[:-4].replace(ours, section)
    forged = body + struct.pack("<I", zlib.crc32(body)) + b"".join(streams) + raw
    assert parse(forged)[0].side.deltas.ks == (7, 1)
    assert torch.equal(codec.decompress(forged)[0], image)


def test_the_pixel_crc_covers_the_samples_given_back(codec, coded):
    """Version 10: a file whose original section was removed, whose alpha was replaced by a lawful
    plane of other values, or that was relabelled to an earlier version's CRC rule, fails its check."""
    assert parse(coded)[0].version == 10
    original = parse(coded)[0].side.original
    with pytest.raises(IntegrityError, match="checksum"):
        codec.decompress(refile(coded, original=None))
    other = Original(6, 16, original.low, (original.alpha ^ 1).astype(np.uint16))
    with pytest.raises(IntegrityError, match="checksum"):
        codec.decompress(refile(coded, original=other))
    header, streams, raw = parse(coded)
    header.writer = 9                            # the same sections under version 9's rule: CRC over pixels
    relabelled = header.pack() + b"".join(streams) + raw
    assert parse(relabelled)[0].version < 10
    with pytest.raises(IntegrityError, match="checksum"):
        codec.decompress(relabelled)


def test_a_version_10_file_without_original_is_refused():
    body = bytearray(Header("RGB", bytes(16), 4, 4, 4, 1, 0, [0], SideInfo(metadata=Metadata(xmp=b"<x/>"))).pack()[:-4])
    assert body[4] == 9
    body[4] = 10
    with pytest.raises(PixcodecError, match="corrupt .pxc header"):     # it sets no section version 10 needs
        parse(bytes(body) + struct.pack("<I", zlib.crc32(body)))


def png(color_type: int, depth: int, rows: list[bytes], *chunks: tuple[bytes, bytes]) -> bytes:
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", len(rows[0]) * 8 // depth // {0: 1, 2: 3}[color_type], len(rows), depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + b"".join(chunk(k, b) for k, b in chunks)
            + chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + r for r in rows))) + chunk(b"IEND", b""))


def test_a_colour_key_beyond_the_depth_is_refused(tmp_path, codec):
    source = tmp_path / "key.png"
    source.write_bytes(png(0, 8, [bytes(range(8))] * 3, (b"tRNS", struct.pack(">H", 300))))
    model = tmp_path / "m.pt"
    checkpoint.save(model, tiny_model("pixelcnn", 3))
    clean_error(run("compress", source, "-m", model), "300", "8-bit")
    gray = Codec(tiny_model("pixelcnn", 1), tile=4, group=2, tuning=False, deltas=False)
    image = torch.arange(24, dtype=torch.uint8).view(1, 4, 6)
    data = gray.compress(image, "L", original=Original(0, 8, key=(7,))).data
    header, streams, raw = parse(data)
    body = bytearray(header.pack()[:-4])
    at = body.index(bytes([0, 8, 8, 7, 0]))             # colour type, depth, parts (a key), the key
    body[at + 3:at + 5] = struct.pack("<H", 256)
    with pytest.raises(PixcodecError, match="colour key beyond 8-bit"):
        parse(bytes(body) + struct.pack("<I", zlib.crc32(body)) + b"".join(streams) + raw)
    with pytest.raises(ValueError, match="colour key"):
        Original(0, 8, key=(256,)).write(header.frame)


def metadata_section(*records: tuple[int, bytes]) -> bytes:
    return bytes([len(records)]) + b"".join(struct.pack("<BI", kind, len(data)) + data for kind, data in records)


@pytest.mark.parametrize("records, why", [
    (((4, b"gAMA"), (4, b"sRGB" + bytes(9))), "gAMA record: 0 bytes"),        # the file
    (((4, b"pHYs\x00"), (4, b"cHRM\x00\x00")), "pHYs record: 1 byte"),
    (((4, b"tIME" + bytes(6)),), "tIME record: 6 bytes"),
    (((4, b"cICP" + bytes(5)),), "cICP"), (((4, b"cLLI" + bytes(7)),), "cLLI"), (((4, b"mDCV" + bytes(23)),), "mDCV"),
    (((4, b"sRGB\x07"),), "not allow"), (((4, b"gAMA" + bytes(4)),), "not allow"),
    (((4, b"tIME\x07\xea\x0d\x01\x00\x00\x00"),), "out of range"),
    (((4, b"tEXt" + b"no separator"),), "keyword"), (((4, b"tEXt" + b"x" * 80 + b"\x00y"),), "keyword"),
    (((4, b"tEXt" + b"Title\x00a\x00b"),), "null"),
    (((4, b"zTXt" + b"Comment\x00\x00" + zlib.compress(b"x" * 1000)[:-2]),), "compressed text"),
    (((4, b"zTXt" + b"Comment\x00\x00" + zlib.compress(bytes(5_000_000))),
      (4, b"iTXt" + b"Title\x00\x01\x00\x00\x00" + zlib.compress(bytes(3_000_001)))), "iTXt record: no valid compressed text"),
    (((4, b"iTXt" + b"Title\x00\x00\x00en\x00\x00\xff\xfe"),), "UTF-8"),
    (((4, b"iTXt" + b"Title\x00\x02\x00en\x00\x00text"),), "compression"),
    (((1, b"not a profile"),), "ICC"), (((2, b"Exif\x00\x00II*\x00"),), "EXIF"), (((3, b"\xff\xfe"),), "XMP"),
])
def test_metadata_records_that_cannot_be_valid_are_refused(records, why):
    side = SideInfo(metadata=Metadata(xmp=b"<x/>"))
    header = Header("RGB", bytes(16), 4, 4, 4, 1, 0, [0], side)
    packed = header.pack()
    at = len(packed) - 4 - 4 - len(side.metadata.write(header.frame))
    body = packed[:at] + metadata_section(*records) + packed[-8:-4]
    with pytest.raises(PixcodecError, match=why):
        parse(body + struct.pack("<I", zlib.crc32(body)))


def test_compress_drops_a_record_that_cannot_be_valid_and_says_so(tmp_path):
    """An input PNG with a 7-byte cLLI, a tIME in month 13 and a good tEXt: the two are named in a
    warning and left out, the text is kept, and the decoded PNG opens in Pillow with its text.
    (pypng itself refuses a PNG whose gAMA, sBIT or pHYs is the wrong size, in one line.)"""
    from PIL import Image
    source = tmp_path / "odd.png"
    source.write_bytes(png(2, 8, [bytes(range(24))] * 4, (b"cLLI", bytes(7)), (b"tIME", b"\x07\xea\x0d\x01\x00\x00\x00"),
                           (b"tEXt", b"Title\x00kept")))
    model = tmp_path / "m.pt"
    checkpoint.save(model, tiny_model("pixelcnn", 3))
    result = run("compress", source, "-m", model, "-o", tmp_path / "a.pxc")
    assert result.exit_code == 0 and "cLLI (7 bytes where the format has 8); tIME (a date" in result.stderr, result.output
    (tmp_path / "gama.png").write_bytes(png(2, 8, [bytes(range(24))] * 4, (b"gAMA", b"\x00\xb1\x8f")))
    clean_error(run("compress", tmp_path / "gama.png", "-m", model), "gAMA")
    assert json.loads(run("info", tmp_path / "a.pxc", "--json").stdout)["metadata"] == ["tEXt"]
    assert run("decompress", tmp_path / "a.pxc", "-m", model, "-o", tmp_path / "b.png").exit_code == 0
    with Image.open(tmp_path / "b.png") as back:
        assert back.text == {"Title": "kept"}


def test_decompress_reads_its_png_back_before_keeping_it():
    """The last net: a chunk no check caught (here one built past them) makes the output
    unreadable to Pillow, and nothing is written."""
    from pixcodec.images.imageio import png_bytes
    pixels = torch.arange(48, dtype=torch.uint8).view(3, 4, 4)
    good = with_png_metadata(png_bytes(pixels, "RGB"), Metadata(png_chunks=((b"gAMA", b"\x00\x00\xb1\x8f"),)))
    read_back_png(good, pixels.numpy(), None)
    bad = with_png_metadata(png_bytes(pixels, "RGB"), Metadata(png_chunks=((b"gAMA", b""),)))
    with pytest.raises(PixcodecError, match="read back"):
        read_back_png(bad, pixels.numpy(), None)
    with pytest.raises(PixcodecError, match="other samples"):
        read_back_png(good, (pixels.numpy() ^ 1), None)


def test_forged_sections_with_good_crcs_decode_exactly_or_fail_cleanly(codec):
    """The fuzz round of the issue in small: a file holding original (low bytes, alpha), metadata
    and its streams, every header byte past the fixed fields open to rewriting with the CRC made
    good again. Each try gives the exact samples or one PixcodecError."""
    pixels, mode, original = as_pixels(rgba16(9, 8))
    data = codec.compress(pixels, mode, original=original).data
    from pixcodec.pxc import restamped
    data = restamped(data, metadata=Metadata(xmp=b"<x/>", png_chunks=((b"gAMA", b"\x00\x00\xb1\x8f"),
                                                                          (b"tEXt", b"Title\x00t"))))
    expected, size = decoded_samples(codec, data), parse(data)[0].size
    refused = 0
    for trial, lie in enumerate(header_lies(data, size, 200, seed=7, first=38)):     # past the fixed fields
        try:
            got = decoded_samples(codec, lie)
        except PixcodecError:
            refused += 1
            continue
        assert np.array_equal(got, expected), f"trial {trial}: a forged header gave other samples"
    assert refused > 150
