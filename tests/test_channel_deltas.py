"""Channel deltas: the section (pixcodec/pxc/channel_deltas.py) and the encoder's fit (channel_tuning.py)."""
import struct

import numpy as np
import pytest
import torch

from conftest import fuzz, rewritten_header, structured_images, tiny_model
from pixcodec.encoder import channel_tuning
from pixcodec.codec import Codec
from pixcodec.errors import PixcodecError
from pixcodec.exact.numerics import convs_of
from pixcodec.pxc import ChannelDeltas, parse
from pixcodec.pxc.channel_deltas import rice_bits, rice_decode, rice_encode
from pixcodec.pxc.sections import Reader
from test_codec import DATA, golden_module


def picture(h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(structured_images(1, 3, h, w, seed=seed)[0]).permute(2, 0, 1).contiguous()


def pattern(model) -> ChannelDeltas:
    """Fixed deltas of every size and sign, by arithmetic."""
    n = torch.arange(ChannelDeltas.channel_count(model))
    return ChannelDeltas((n * 7) % 11 - 5, (n * 5) % 9 - 4)


def test_rice_codes_round_trip_and_cost_what_they_say():
    values = np.random.default_rng(0).integers(-127, 128, 300)
    small = np.array([0, 1, -1, 2, -2, 0, 0, 3])
    for k in range(8):
        data = rice_encode([(values, k), (small, 7 - k)])
        assert len(data) == -(-(rice_bits(values, k) + rice_bits(small, 7 - k)) // 8)
        assert np.array_equal(rice_decode(data, [(300, k), (8, 7 - k)]), np.concatenate([values, small]))
    assert rice_bits(np.array([0, 0, 0]), 0) == 3 and rice_bits(np.array([-127]), 0) == 254


@pytest.mark.parametrize("stream, parts", [(b"\xff" * 40, [(1, 0)]),           # a code past 254
                                           (b"\xfe", [(2, 0)]),                 # a value missing
                                           (b"\x00\x00", [(1, 0)]),             # a byte left over
                                           (b"\x01", [(1, 0)])])                # padding not zero
def test_bad_rice_codes_are_refused(stream, parts):
    with pytest.raises(PixcodecError, match="channel deltas"):
        rice_decode(stream, parts)


def test_the_section_round_trips_and_refuses_bad_fields():
    deltas = ChannelDeltas(torch.tensor([3, -2, 0, 127]), torch.tensor([-127, 0, 1, 5]))
    data = deltas.write(None)
    assert len(data) == deltas.size()
    back = ChannelDeltas.read(Reader(data, 0), None)
    assert torch.equal(back.gains, deltas.gains) and torch.equal(back.shifts, deltas.shifts)
    for bad in (struct.pack("<HBH", 0, 0, 0), struct.pack("<HBH", 3, 0, 1) + b"\x00",     # none; odd
                struct.pack("<HBH", 2, 0x80, 1) + b"\x00", data[:-1]):                      # k of 8; short
        with pytest.raises(PixcodecError):
            ChannelDeltas.read(Reader(bad, 0), None)
    with pytest.raises(ValueError):
        ChannelDeltas(torch.tensor([128]), torch.tensor([0])).write(None)


def test_deltas_fold_into_the_exact_weights_as_the_format_says():
    model = tiny_model("pixelcnn", 3, head="predictive")
    exact = Codec(model).exact
    deltas = pattern(model)
    moved = deltas.numerics(exact, model)
    at = 0
    for conv in convs_of(model):
        w0, b0 = exact.parts(conv)
        w1, b1 = moved.parts(conv)
        n = w0.shape[0]
        for i in (0, n // 2, n - 1):            # FORMAT.md's integers, in Python's
            g, d = int(deltas.gains[at + i]), int(deltas.shifts[at + i])
            rows = [int(v) for v in (w0[i].flatten() * 2 ** 14).tolist()]
            assert [int(v) for v in (w1[i].flatten() * 2 ** 14).tolist()] == [(r * (32 + g) + 16) // 32 for r in rows]
            assert int(b1[i] * 2 ** 26) == (int(b0[i] * 2 ** 26) * (32 + g) + 16) // 32 + d * 2 ** 20
        at += n
    assert torch.equal(exact.parts(convs_of(model)[0])[0], Codec(model).exact.parts(convs_of(model)[0])[0])
    zero = ChannelDeltas(torch.zeros_like(deltas.gains), torch.zeros_like(deltas.shifts)).numerics(exact, model)
    assert all(torch.equal(zero.parts(c)[0], exact.parts(c)[0]) and torch.equal(zero.parts(c)[1], exact.parts(c)[1])
               for c in convs_of(model))
    with pytest.raises(ValueError):
        ChannelDeltas(deltas.gains[:-1], deltas.shifts[:-1]).numerics(exact, model)


@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (17, 1), (9, 70), (65, 3)])
def test_fixed_deltas_round_trip_awkward_shapes_in_any_grouping_and_thread_count(shape):
    model = tiny_model("pixelcnn", 3, head="predictive")
    img = picture(*shape)
    data = Codec(model, tile=8, group=3, deltas=pattern(model)).compress(img).data
    header = parse(data)[0]
    assert header.version == 8 and torch.equal(header.side.deltas.gains, pattern(model).gains)
    threads = torch.get_num_threads()
    try:
        for n, group in ((1, 1), (2, 5), (1, 300)):
            torch.set_num_threads(n)
            assert torch.equal(Codec(model, tile=8, group=group).decompress(data)[0], img)
            assert Codec(model, tile=8, group=3, deltas=pattern(model)).compress(img).data == data
    finally:
        torch.set_num_threads(threads)


def test_the_fit_pays_where_the_model_is_wrong_and_decodes_exactly():
    """An untrained model is wrong everywhere in the same way: gains and shifts fitted to the
    image fix much of it, and the file carries them."""
    model = tiny_model("pixelcnn", 3, head="predictive")
    img = picture(48, 40, seed=3)
    fitted = Codec(model, tile=8, group=3, tuning=False, online=False).compress(img)
    header = parse(fitted.data)[0]
    plain = Codec(model, tile=8, group=3, tuning=False, online=False, deltas=False).compress(img)
    assert header.side.deltas is not None and fitted.nll_bits < 0.95 * plain.nll_bits and len(fitted.data) < len(plain.data)
    assert torch.equal(Codec(model, tile=8, group=7).decompress(fitted.data)[0], img)
    again = channel_tuning.fit(model, img, 8, Codec(model).exact)
    assert torch.equal(again.gains, header.side.deltas.gains) and torch.equal(again.shifts, header.side.deltas.shifts)
    gray = Codec(model, tile=8, tuning=False, online=False).compress(img[:1], "L")
    assert torch.equal(Codec(model, tile=8).decompress(gray.data)[0], img[:1])


def test_the_fit_is_declined_where_it_cannot_pay():
    model = tiny_model("pixelcnn", 3, head="predictive")
    exact = Codec(model).exact
    assert ChannelDeltas.channel_count(model) == 180
    assert channel_tuning.fit(model, picture(32, 32), 16, exact) is None          # 4 whole tiles
    assert channel_tuning.fit(model, picture(40, 60), 64, exact) is None          # no whole tile
    assert channel_tuning.fit(model, picture(6, 7), 2, exact) is None             # 126 subpixels, 360 values
    big = tiny_model("pixelcnn", 3)                                                # 936 channels
    assert channel_tuning.fit(big, picture(40, 48), 8, Codec(big).exact) is None  # 1,872 values, 5,760 subpixels
    assert channel_tuning.fit(model, picture(48, 40)[:2], 8, exact) is None       # 2 channels, an RGB model


def test_golden_deltas_file_decodes_and_re_encodes_byte_for_byte():
    golden = golden_module()
    codec, data = golden.golden_codec("golden_deltas.pxc"), (DATA / "golden_deltas.pxc").read_bytes()
    header = parse(data)[0]
    assert header.version == 8 and header.side.deltas is not None and not header.side.online
    assert torch.equal(codec.decompress(data)[0], golden.golden_deltas_image())
    assert codec.compress(golden.golden_deltas_image()).data == data
    codec.deltas = False
    assert codec.compress(golden.golden_deltas_image()).data != data


def test_damaged_and_forged_deltas_files_decode_exactly_or_fail_cleanly():
    golden = golden_module()
    codec, data = golden.golden_codec("golden_deltas.pxc"), (DATA / "golden_deltas.pxc").read_bytes()
    image = golden.golden_deltas_image()
    size = parse(data)[0].size
    fuzz(lambda d: codec.decompress(d)[0], data, image, 80, seed=8, truncate_every=4)
    with pytest.raises(PixcodecError, match="flags"):                   # flag 256 in a version-7 file
        codec.decompress(rewritten_header(data, lambda body: body.__setitem__(4, 7), size))
    other = Codec(tiny_model("pixelcnn", 3, hidden=12, head="predictive"), tile=8)
    with pytest.raises(PixcodecError, match="deltas"):                  # another model's channel count
        other.decompress(rewritten_header(data[:6] + other.id + data[22:], lambda body: None, size))
    import random
    rng = random.Random(9)
    for _ in range(120):                                               # lies with their CRC made good
        lie = rewritten_header(data, lambda body: body.__setitem__(rng.randrange(4, size - 4), rng.randrange(256)), size)
        try:
            out = codec.decompress(lie)[0]
        except PixcodecError:
            continue
        assert torch.equal(out, image)


def test_channel_deltas_through_the_command_line(tmp_path):
    """Effort 3 fits them, effort 2 does not; info counts them; the file decodes."""
    import json

    from PIL import Image

    from pixcodec import checkpoint
    from test_cli_codec import run
    checkpoint.save(tmp_path / "m.pt", tiny_model("pixelcnn", 3, head="predictive"))
    Image.fromarray(picture(48, 40, seed=3).permute(1, 2, 0).numpy()).save(tmp_path / "p.png")
    for effort, count in ((2, None), (3, 180)):
        out = tmp_path / f"p{effort}.pxc"
        result = run("compress", tmp_path / "p.png", "-m", tmp_path / "m.pt", "--tile", 8, "-e", effort, "-o", out, "--verify")
        assert result.exit_code == 0, result.stderr
        assert json.loads(run("info", out, "--json").stdout)["channel_deltas"] == count
    assert run("decompress", tmp_path / "p3.pxc", "-m", tmp_path / "m.pt", "-o", tmp_path / "back.png").exit_code == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "back.png")), np.asarray(Image.open(tmp_path / "p.png")))


def test_the_fit_gives_the_same_deltas_in_one_thread_and_in_two():
    """A step's batch is cut into fixed pieces whose gradients add in one order: the pieces may
    run in one Python thread or in two (threads.pieces_map), the deltas are the same."""
    model = tiny_model("pixelcnn", 3, head="predictive")
    img, exact = picture(48, 40, seed=3), Codec(model).exact
    threads, fitted = torch.get_num_threads(), []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            fitted.append(channel_tuning.fit(model, img, 8, exact))
    finally:
        torch.set_num_threads(threads)
    one, two = fitted
    assert one is not None and torch.equal(one.gains, two.gains) and torch.equal(one.shifts, two.shifts)


def test_the_fit_s_steps_run_their_convolutions_in_bfloat16():
    """The fit's gradient passes use FitNumerics: bfloat16 convolutions, float32 out, close to
    the float model's; and the fit reaches its convs through it."""
    from pixcodec.encoder.channel_tuning import FIT
    from pixcodec.exact.numerics import FLOAT
    from pixcodec.exact.convs import conv_weight
    model = tiny_model("pixelcnn", 3, head="predictive")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for conv in convs_of(model):
            x = torch.randn(2, conv_weight(conv)[0].shape[1], 12, 10, generator=g)
            fast, plain = FIT.conv(conv, x), FLOAT.conv(conv, x)
            assert fast.dtype == torch.float32 and fast.shape == plain.shape
            assert torch.equal(fast.bfloat16().float(), fast)                  # bfloat16 values
            assert torch.allclose(fast, plain, rtol=0.02, atol=0.02 * float(plain.abs().max()))
    used = []
    original = type(FIT).conv
    try:
        type(FIT).conv = lambda self, module, h: used.append(module) or original(self, module, h)
        channel_tuning.fit(model, picture(48, 40), 8, Codec(model).exact, steps=1)
    finally:
        type(FIT).conv = original
    shapes = sorted(tuple(conv_weight(m)[0].shape) for m in convs_of(model))
    passes = len(used) // len(shapes)          # one per piece of the step, each on its own replica
    assert passes >= 1 and sorted(tuple(conv_weight(m)[0].shape) for m in used) == sorted(shapes * passes)
