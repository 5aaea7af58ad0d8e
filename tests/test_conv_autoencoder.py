"""The baseline auto-encoder (conv_ae), the reconstruction grids of `sample --reconstruct`, and the
rate's free bits: shapes, an honest discretized Gaussian, the MSE gradient, and the commands."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from pixcodec import checkpoint, models
from pixcodec.errors import PixcodecError
from pixcodec.models.conv_autoencoder import discretized_gaussian_log_mass
from pixcodec.training.run_config import TrainConfig
from pixcodec.training.train import clipped_parts, latent_charge

from conftest import structured_images

AE_TINY = dict(levels=4, factor=2, encoder_hidden=8, spatial=4, hidden=12, layers=2, out_hidden=12,
               prior_hidden=12, prior_layers=1)


def run(*args):
    return CliRunner().invoke(__import__("pixcodec.cli.main", fromlist=["app"]).app, [str(a) for a in args])


def hparams(**values):
    return [a for k, v in values.items() for a in ("-H", f"{k}={v}")]


@pytest.mark.parametrize("mean", [-400.0, 0.0, 3.3, 127.5, 254.7, 900.0])
@pytest.mark.parametrize("log_scale", [-4.0, 0.0, 3.0, 8.0])
def test_the_discretized_gaussian_is_a_distribution_over_the_256_values(mean, log_scale):
    x = torch.arange(256)
    log_p = discretized_gaussian_log_mass(x, torch.full((256,), mean, dtype=torch.float64),
                                          torch.tensor(log_scale, dtype=torch.float64))
    assert torch.isfinite(log_p).all()
    assert float(log_p.exp().sum()) == pytest.approx(1.0, abs=1e-12)
    scale = np.exp(log_scale)
    edges = torch.tensor([-np.inf, *(np.arange(255) + 0.5), np.inf], dtype=torch.float64)
    direct = torch.special.ndtr((edges[1:] - mean) / scale) - torch.special.ndtr((edges[:-1] - mean) / scale)
    well_conditioned = direct > 1e-6
    assert torch.allclose(log_p[well_conditioned].exp(), direct[well_conditioned], rtol=1e-9)


def test_the_baseline_keeps_the_encoder_and_decodes_any_size():
    torch.manual_seed(0)
    model = models.build("conv_ae", 3, factor=4, embed=10, encoder_hidden=8, hidden=8)
    x = torch.randint(0, 256, (2, 3, 13, 7), dtype=torch.uint8)
    assert model.encode(x).shape == (2, 10) and model.mean(model.encode(x), 13, 7).shape == (2, 3, 13, 7)
    reconstruction = model.reconstruct(x)
    assert reconstruction.dtype == torch.uint8 and reconstruction.shape == x.shape
    bits_x, bits_z = model.eval()(x)
    assert bits_x.dtype == torch.float64 and bits_x.shape == (2,) and not bits_z.any()
    mean = model.mean(model.encode(x), 13, 7).double()
    expected = -discretized_gaussian_log_mass(x, mean, model.log_scale.view(1, 3, 1, 1).double()).sum((1, 2, 3))
    assert torch.allclose(bits_x, expected / np.log(2))


def test_with_one_scale_the_mean_follows_the_squared_error():
    """Away from the ends and with a wide scale, d bits / d mean = (mean - x) / (scale^2 ln 2):
    the gradient of squared error, so the baseline's decoder is the MSE decoder."""
    x = torch.tensor([40, 100, 180])
    mean = torch.tensor([50.0, 90.0, 181.0], dtype=torch.float64, requires_grad=True)
    log_scale = torch.tensor(np.log(40.0), dtype=torch.float64)
    (-discretized_gaussian_log_mass(x, mean, log_scale) / np.log(2)).sum().backward()
    expected = (mean.detach() - x) / (40.0 ** 2 * np.log(2))
    assert torch.allclose(mean.grad, expected, rtol=1e-3)


def test_a_standardized_vector_varies_across_images_and_old_ones_stay_free():
    torch.manual_seed(0)
    x = (torch.arange(16) * 16).to(torch.uint8).view(16, 1, 1, 1).expand(16, 1, 8, 8)   # 16 brightnesses
    model = models.build("pixelcnn_ae", 1, **{**AE_TINY, "latent": "vector", "embed": 3, "vector_norm": "batch"})
    e = model.train().encode(x)                                          # (16, 3), standardized over the batch
    raw = model.encoder.out(model.encoder.body(x.float() * (2 / 255) - 1).mean((2, 3)))
    expected = (raw - raw.mean(0)) / torch.sqrt(raw.var(0, unbiased=False) + model.encoder.norm.eps)
    assert torch.allclose(e, expected, atol=1e-5) and float(e.detach().std(0).min()) > 0.5
    model.eval()
    assert torch.allclose(model.encode(x[:1]), model.encode(x)[:1], atol=1e-6)   # running statistics: no batch effect
    free = models.build("pixelcnn_ae", 1, **{**AE_TINY, "latent": "vector", "embed": 3})
    assert free.hparams["vector_norm"] == "none" and not any(".norm." in k for k in free.state_dict())
    with pytest.raises(PixcodecError, match="vector_norm"):
        models.build("pixelcnn_ae", 1, vector_norm="layer")


@pytest.mark.parametrize("name", ["pixelcnn_ae", "conv_ae", "gated_pixelcnn"])
def test_each_part_of_an_auto_encoder_is_clipped_on_its_own(name):
    model = models.build(name, 1, **({**AE_TINY} if name == "pixelcnn_ae" else {}))
    parts = clipped_parts(model)
    assert sorted(id(p) for part in parts for p in part) == sorted(id(p) for p in model.parameters())
    assert len(parts) == (1 if name == "gated_pixelcnn" else 3)
    if name != "pixelcnn_ae":
        return
    for p in model.parameters():
        p.grad = torch.full_like(p, 1e4 if any(p is q for q in model.encoder.parameters()) else 1e-4)
    for part in parts:
        torch.nn.utils.clip_grad_norm_(part, 1.0)
    assert all(float(p.grad.abs().max()) == pytest.approx(1e-4) for p in model.decoder.parameters())
    assert float(torch.sqrt(sum((p.grad ** 2).sum() for p in model.encoder.parameters()))) == pytest.approx(1.0)


def test_free_bits_charge_the_rate_no_less_than_their_floor():
    model = SimpleNamespace(latent_values=lambda h, w: 4 * (h // 2) * (w // 2))
    x = torch.zeros(2, 1, 4, 4)
    setting = lambda **c: SimpleNamespace(config=TrainConfig(**c), model=model, step=0)   # noqa: E731
    bits_z = torch.tensor([3.0, 5.0], requires_grad=True)
    assert float(latent_charge(setting(), x, bits_z).detach()) == 8.0
    charged = latent_charge(setting(free_bits=0.5), x, bits_z)          # floor 0.5 x 16 values x 2 images
    assert float(charged.detach()) == 16.0
    charged.backward()
    assert not bits_z.grad.any()                                         # below the floor: no pull on z
    assert float(latent_charge(setting(free_bits=0.1), x, bits_z).detach()) == 8.0
    assert float(latent_charge(setting(latent_warmup=4, free_bits=0.5), x, bits_z).detach()) == 4.0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A folder of 8x8 gray images, a tiny pixelcnn_ae and a tiny conv_ae trained on it."""
    root = tmp_path_factory.mktemp("recon")
    folder = root / "imgs"
    folder.mkdir()
    for k, img in enumerate(structured_images(12, 1, 8, 8, seed=6)):
        Image.fromarray(img[..., 0]).save(folder / f"{k}.png")
    common = ["--data", folder, "--crop", 8, "--steps", 2, "--batch-size", 4, "--eval-every", 0, "--quiet"]
    result = run("train", "--model", "pixelcnn_ae", *hparams(**AE_TINY), *common, "--free-bits", 0.1,
                 "--out", root / "ae.pt")
    assert result.exit_code == 0, result.output
    result = run("train", "--model", "conv_ae", *hparams(factor=2, embed=3, encoder_hidden=8, hidden=8), *common,
                 "--out", root / "base.pt")
    assert result.exit_code == 0, result.output
    return root


def test_the_baseline_trains_and_evaluates_but_codes_nothing(trained):
    line = json.loads(run("eval", trained / "base.pt", "--json").stdout)
    assert 0 < line["bits_per_dim"] < 16 and "latent_bits_per_dim" not in line
    assert "given the uncoded embedding" in run("eval", trained / "base.pt").stdout
    for refused in (run("compress", trained / "imgs" / "0.png", "-m", trained / "base.pt", "-o", trained / "x.pxc"),
                    run("sample", trained / "base.pt", "-o", trained / "x.png")):
        assert refused.exit_code == 1 and "Traceback" not in refused.stderr, refused.output
    vector = run("train", "--model", "pixelcnn_ae", *hparams(**AE_TINY, latent="vector"), "--data", trained / "imgs",
                 "--crop", 8, "--steps", 1, "--batch-size", 4, "--free-bits", 1, "--out", trained / "v.pt", "--quiet")
    assert vector.exit_code == 1 and "--free-bits needs" in vector.stderr
    single = run("train", "--model", "conv_ae", *hparams(factor=2, embed=3, encoder_hidden=8, hidden=8), "--data",
                 trained / "imgs", "--crop", 8, "--steps", 1, "--batch-size", 1, "--out", trained / "c1.pt", "--quiet")
    assert single.exit_code == 1 and "2 images or more" in single.stderr


def test_reconstruct_draws_a_row_an_image_beside_the_baseline(trained):
    imgs = [trained / "imgs" / f"{k}.png" for k in range(3)]
    result = run("sample", trained / "ae.pt", "--reconstruct", *imgs, "-n", 4, "--baseline", trained / "base.pt",
                 "-o", trained / "grid.png")
    assert result.exit_code == 0 and "3 images, 4 draws each and the baseline's" in result.stdout, result.output
    with Image.open(trained / "grid.png") as grid:
        assert grid.size == (2 + 6 * 10, 2 + 3 * 10)                   # original, 4 draws, baseline
        first = np.asarray(grid)[2:10, 2:10]
    with Image.open(imgs[0]) as original:
        assert np.array_equal(first, np.asarray(original))
    again = run("sample", trained / "ae.pt", "--reconstruct", *imgs, "-n", 4, "--baseline", trained / "base.pt",
                "-o", trained / "grid.png", "--force")
    assert again.exit_code == 0
    plain = run("sample", trained / "ae.pt", "--reconstruct", imgs[0], "-n", 2, "-o", trained / "one.png")
    assert plain.exit_code == 0, plain.output
    with Image.open(trained / "one.png") as grid:
        assert grid.size == (2 + 3 * 10, 2 + 10)


def test_reconstruct_refuses_what_it_cannot_draw(trained, tmp_path):
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(tmp_path / "tall.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "rgb.png")
    img = trained / "imgs" / "0.png"
    ae, out = trained / "ae.pt", tmp_path / "g.png"
    cases = [(["sample", ae, img, "-o", out], 2, "--reconstruct"),
             (["sample", ae, "--baseline", trained / "base.pt", "-o", out], 2, "--baseline"),
             (["sample", ae, "--reconstruct", img, tmp_path / "tall.png", "-o", out], 1, "one size"),
             (["sample", ae, "--reconstruct", tmp_path / "rgb.png", "-o", out], 1, "8-bit gray"),
             (["sample", ae, "--reconstruct", img, "--baseline", ae, "-o", out], 1, "conv_ae"),
             (["sample", ae, "--reconstruct", tmp_path / "missing.png", "-o", out], 1, "missing")]
    for args, code, said in cases:
        result = run(*args)
        assert result.exit_code == code and said in result.output and "Traceback" not in result.output, args
        assert not out.exists()
    assert checkpoint.load(trained / "ae.pt")["config"]["free_bits"] == 0.1
