"""The PixelCNN auto-encoder and its two-part codec: honest rates, exact round trips, the
straight-through rate, golden version-3 files, refusals, and the commands end to end."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from pixcodec import checkpoint, models
from pixcodec.codec import Codec
from pixcodec.pxc import parse
from pixcodec.errors import PixcodecError
from pixcodec.training.likelihood import image_bits
from pixcodec.two_part import TwoPartCodec

from conftest import fuzz, structured_images, tiny_model

DATA = Path(__file__).parent / "data"
TINY = dict(levels=4, factor=2, encoder_hidden=8, spatial=4, hidden=12, layers=2, out_hidden=12,
            prior_hidden=12, prior_layers=1)


def ae(channels=1, seed=0, **extra):
    torch.manual_seed(seed)
    return models.build("pixelcnn_ae", channels, **{**TINY, **extra}).eval()


def images(n, c, h, w, seed=0):
    return torch.from_numpy(structured_images(n, c, h, w, seed)).permute(0, 3, 1, 2).contiguous()


def run(*args):
    return CliRunner().invoke(__import__("pixcodec.cli.main", fromlist=["app"]).app, [str(a) for a in args])


def test_the_rate_is_the_prior_bits_of_z_plus_the_decoder_bits_of_x_given_z():
    model = ae(3)
    x = images(2, 3, 6, 5)
    with torch.no_grad():
        bits_x, bits_z = model(x)
        levels = model.codes(x)                                          # (2, 1, 3, 3)
        assert levels.shape == (2, 1, 3, 3) and int(levels.max()) < 4
        cond = model.decoder.condition(levels.double(), 6, 5)
        assert torch.allclose(bits_x, image_bits(model.decoder.pixelcnn, x, cond.float()), rtol=1e-5)
        # bits(z): the prior's softmax over all 256 values, read at the level's symbol
        assert torch.allclose(bits_z, image_bits(model.prior, model.as_image(levels)), rtol=1e-5)


def test_the_rate_reaches_the_encoder_through_the_straight_through_surrogate():
    model = ae(1).train()
    _, bits_z = model(images(2, 1, 8, 8))
    bits_z.sum().backward()
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None for g in grads) and any(float(g.abs().sum()) > 0 for g in grads)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (5, 1), (5, 7), (9, 13)])
def test_two_part_round_trip_is_exact(channels, shape):
    codec = TwoPartCodec(ae(channels), tile=4, group=3, fallback=False)
    img = images(1, channels, *shape, seed=sum(shape))[0]
    compressed = codec.compress(img)
    header, streams, _ = parse(compressed.data)
    assert header.version == 7 and header.side.latent and header.side.online     # the pixels mix online
    payload = 8 * sum(len(s) for s in streams)
    assert payload <= compressed.nll_bits * 1.001 + 64 * len(streams)         # bits(z) + bits(x|z), honestly
    assert 0 < compressed.latent_bits < compressed.nll_bits
    out, mode = TwoPartCodec(ae(channels), tile=4, group=1).decompress(compressed.data)   # other grouping
    assert torch.equal(out, img)


def test_a_two_part_file_codes_the_pixels_among_their_value_sets():
    """Few levels: the pixels given z are coded among each channel's values (version 4, two-part
    and value-set flags); the latent stream keeps the full 256."""
    codec = TwoPartCodec(ae(3), tile=8, group=2, fallback=False)
    codec.pixels.stage = {}                     # the flags of version 4 alone
    i, j = torch.meshgrid(torch.arange(24), torch.arange(20), indexing="ij")
    img = torch.stack([(i + j) % 12 * 20, (i * 2 + j) % 12 * 20, (i + 2 * j) % 12 * 20]).to(torch.uint8)
    compressed = codec.compress(img)
    header = parse(compressed.data)[0]
    assert header.version == 4 and header.side.latent and len(header.side.values.per_channel) == 3 and not header.side.gray
    assert torch.equal(TwoPartCodec(ae(3), tile=8, group=1).decompress(compressed.data)[0], img)


def test_threads_do_not_change_the_two_part_file():
    model, img = ae(3), images(1, 3, 9, 10, seed=4)[0]
    threads = torch.get_num_threads()
    try:
        files = []
        for n in (1, 2):
            torch.set_num_threads(n)
            files.append(TwoPartCodec(model, tile=4).compress(img).data)
        torch.set_num_threads(1)
        assert files[0] == files[1] and torch.equal(TwoPartCodec(model, tile=4).decompress(files[1])[0], img)
    finally:
        torch.set_num_threads(threads)


def test_golden_two_part_file_decodes_and_re_encodes_byte_for_byte():
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_golden", DATA / "make_golden.py")
    golden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(golden)
    codec = golden.golden_codec("golden_two_part.pxc")
    data = (DATA / "golden_two_part.pxc").read_bytes()
    assert parse(data)[0].version == 3
    out, mode = codec.decompress(data)
    assert torch.equal(out, golden.golden_image()) and mode == "RGB"
    assert codec.compress(golden.golden_image()).data == data


def test_files_go_only_to_their_own_kind_of_model():
    img = images(1, 1, 6, 6)[0]
    two_part = TwoPartCodec(ae(1)).compress(img).data
    plain = Codec(tiny_model("gated_pixelcnn", 1)).compress(img).data
    with pytest.raises(PixcodecError, match="two-part"):
        Codec(tiny_model("gated_pixelcnn", 1)).decompress(two_part)
    with pytest.raises(PixcodecError, match="not made by an auto-encoder"):
        TwoPartCodec(ae(1)).decompress(plain)
    with pytest.raises(PixcodecError, match="another model"):
        TwoPartCodec(ae(1, seed=1)).decompress(two_part)
    with pytest.raises(PixcodecError, match="vector"):
        TwoPartCodec(ae(1, latent="vector"))


def test_damaged_two_part_files_decode_exactly_or_fail_cleanly():
    codec, img = TwoPartCodec(ae(1), tile=4, group=2), images(1, 1, 6, 7, seed=5)[0]
    refused = fuzz(lambda d: codec.decompress(d)[0], codec.compress(img).data, img, 120, seed=1, truncate_every=3)
    assert refused > 80


def test_autoencoder_commands_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for k, img in enumerate(structured_images(12, 1, 8, 8, seed=6)):
        Image.fromarray(img[..., 0]).save(folder / f"{k}.png")
    Image.fromarray(rng.integers(0, 256, (7, 9), dtype=np.uint8)).save(tmp_path / "odd.png")
    hp = [a for k, v in TINY.items() for a in ("-H", f"{k}={v}")]
    ckpt = tmp_path / "ae.pt"
    result = run("train", "--model", "pixelcnn_ae", *hp, "--data", folder, "--crop", 8, "--steps", 2,
                 "--batch-size", 4, "--eval-every", 0, "--out", ckpt, "--quiet")
    assert result.exit_code == 0, result.output
    line = json.loads(run("eval", ckpt, "--json").stdout)
    assert line["latent_bits_per_dim"] > 0 and line["bits_per_dim"] == pytest.approx(
        line["latent_bits_per_dim"] + line["pixel_bits_per_dim"])
    assert " = z " in run("eval", ckpt).stdout
    result = run("compress", tmp_path / "odd.png", "-m", ckpt, "-o", tmp_path / "odd.pxc", "--verify")
    assert result.exit_code == 0 and "= z " in result.stdout, result.output
    assert json.loads(run("info", tmp_path / "odd.pxc", "--json").stdout)["format_version"] == 7
    assert run("decompress", tmp_path / "odd.pxc", "-m", ckpt, "-o", tmp_path / "back.png").exit_code == 0
    with Image.open(tmp_path / "back.png") as a, Image.open(tmp_path / "odd.png") as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))
    nomodel = run("decompress", tmp_path / "odd.pxc", "-o", tmp_path / "x.png")
    assert nomodel.exit_code == 1 and "-m" in nomodel.stderr
    result = run("sample", ckpt, "-n", 3, "-o", tmp_path / "s.png")
    assert result.exit_code == 0, result.output
    result = run("sample", ckpt, "-n", 3, "--interpolate", folder / "0.png", folder / "1.png", "-o", tmp_path / "i.png")
    assert result.exit_code == 0 and "5 images" in result.stdout, result.output
    with Image.open(tmp_path / "i.png") as grid:
        assert grid.size == (2 + 5 * 10, 2 + 10)
    bad = run("sample", ckpt, "--complete", folder / "0.png", "-o", tmp_path / "c.png")
    assert bad.exit_code == 1 and "Traceback" not in bad.stderr


def test_a_vector_latent_interpolates_and_has_no_prior(tmp_path):
    model = ae(1, latent="vector", embed=5)
    assert model.prior is None and model.encode(images(2, 1, 8, 8)).shape == (2, 5)
    checkpoint.save(tmp_path / "v.pt", model)
    for k, img in enumerate(structured_images(2, 1, 8, 8, seed=7)):
        Image.fromarray(img[..., 0]).save(tmp_path / f"{k}.png")
    result = run("sample", tmp_path / "v.pt", "-n", 2, "--interpolate", tmp_path / "0.png", tmp_path / "1.png",
                 "-o", tmp_path / "i.png")
    assert result.exit_code == 0 and "4 images" in result.stdout, result.output
    bad = run("sample", tmp_path / "v.pt", "-n", 2, "-o", tmp_path / "s.png")
    assert bad.exit_code == 1 and "no prior" in bad.stderr


@pytest.mark.parametrize("prior", ["pixelcnn", "row_lstm", "diagonal_bilstm"])
def test_any_registered_pixel_model_serves_as_the_prior(prior):
    model = ae(1, prior=prior, prior_hidden=24)
    img = images(1, 1, 7, 6, seed=3)[0]
    compressed = TwoPartCodec(model, tile=4, fallback=False).compress(img)
    with torch.no_grad():
        assert compressed.latent_bits == pytest.approx(float(model(img[None])[1]), rel=1e-4)
    assert torch.equal(TwoPartCodec(model, tile=4).decompress(compressed.data)[0], img)
