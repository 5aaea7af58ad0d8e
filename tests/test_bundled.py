"""Bundled models: pinned by SHA-256, chosen by image mode or by a file's model id; export; demo."""
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pixcodec import bundled, checkpoint
from pixcodec.codec import Codec
from pixcodec.pxc import parse

from conftest import tiny_model
from test_cli_codec import clean_error, pixels, run


@pytest.fixture()
def fake_bundle(tmp_path, monkeypatch):
    """A tiny RGB model installed as the only bundled model."""
    checkpoint.save(tmp_path / "train.pt", tiny_model("pixelcnn", 3), optimizer={"state": {}}, step=7)
    assert run("export", tmp_path / "train.pt", tmp_path / "tiny.pt").exit_code == 0
    digest = hashlib.sha256((tmp_path / "tiny.pt").read_bytes()).hexdigest()
    model_id = Codec(checkpoint.load_model(tmp_path / "tiny.pt")).id.hex()
    monkeypatch.setattr(bundled, "WEIGHTS", tmp_path)
    monkeypatch.setattr(bundled, "BUNDLED", (bundled.Bundled("tiny", "tiny.pt", digest, model_id, ("RGB", "L", "1")),))
    for cached in (bundled.load, bundled.codec):
        cached.cache_clear()
    yield tmp_path
    for cached in (bundled.load, bundled.codec):
        cached.cache_clear()


def test_export_strips_training_state_and_refuses_to_overwrite(fake_bundle):
    state = checkpoint.load(fake_bundle / "tiny.pt")
    assert "optimizer" not in state and state["step"] == 7
    assert torch.equal(checkpoint.build_model(state).input.conv.weight, tiny_model("pixelcnn", 3).input.conv.weight)
    clean_error(run("export", fake_bundle / "train.pt", fake_bundle / "tiny.pt"), "exists")


def test_compress_and_decompress_without_a_model_use_the_bundled_one(fake_bundle):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)).save(fake_bundle / "a.png")
    Image.fromarray(rng.integers(0, 256, (4, 7), dtype=np.uint8)).save(fake_bundle / "g.png")
    assert run("compress", fake_bundle / "a.png", fake_bundle / "g.png", "--verify").exit_code == 0
    for name, mode in (("a", "RGB"), ("g", "L")):   # the RGB model also serves gray images
        result = run("decompress", fake_bundle / f"{name}.pxc", "-o", fake_bundle / f"{name}2.png")
        assert result.exit_code == 0, result.stderr
        assert pixels(fake_bundle / f"{name}2.png")[0] == mode
        assert np.array_equal(pixels(fake_bundle / f"{name}2.png")[1], pixels(fake_bundle / f"{name}.png")[1])


def test_a_file_from_an_unbundled_model_needs_its_checkpoint(fake_bundle):
    other = fake_bundle / "other.pt"
    checkpoint.save(other, tiny_model("pixelcnn", 3, seed=5))
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(fake_bundle / "z.png")
    assert run("compress", fake_bundle / "z.png", "-m", other).exit_code == 0
    clean_error(run("decompress", fake_bundle / "z.pxc", "-o", fake_bundle / "z2.png"), "not bundled", "-m")


def test_a_bundled_model_whose_id_differs_from_its_pin_is_refused(fake_bundle, monkeypatch):
    """A build whose arithmetic gives another id must not code (its files would not decode elsewhere)."""
    entry = bundled.BUNDLED[0]
    monkeypatch.setattr(bundled, "BUNDLED", (bundled.Bundled(entry.name, entry.file, entry.sha256, "00" * 16, entry.modes),))
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(fake_bundle / "z.png")
    clean_error(run("compress", fake_bundle / "z.png"), "pinned", "reinstall")


def test_a_damaged_bundled_file_is_refused(fake_bundle):
    data = bytearray((fake_bundle / "tiny.pt").read_bytes())
    data[len(data) // 2] ^= 1
    (fake_bundle / "tiny.pt").write_bytes(bytes(data))
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(fake_bundle / "z.png")
    clean_error(run("compress", fake_bundle / "z.png"), "damaged", "reinstall")
    (fake_bundle / "tiny.pt").unlink()
    clean_error(run("compress", fake_bundle / "z.png"), "missing")


def test_gray_through_an_rgb_model_codes_only_one_channel():
    codec = Codec(tiny_model("pixelcnn", 3))
    gray = torch.randint(0, 256, (1, 9, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    small = codec.compress(gray, "L")
    rgb = gray.expand(3, -1, -1).clone()
    rgb[1, 4, 3] ^= 1                                # one subpixel off gray: all three channels coded
    colour = codec.compress(rgb, "RGB")
    back, mode = codec.decompress(small.data)
    assert torch.equal(back, gray) and mode == "L"
    assert small.nll_bits < colour.nll_bits          # G and B cost nothing: they are not coded


@pytest.mark.skipif(not all((bundled.WEIGHTS / b.file).exists() for b in bundled.BUNDLED),
                    reason="no bundled weights in this checkout")
def test_the_shipped_models_load_and_the_demo_round_trips(tmp_path):
    for b in bundled.BUNDLED:
        assert bundled.load(b.name).in_channels in (1, 3)       # SHA-256 checked on the way
    result = run("demo", "--keep", tmp_path)
    assert result.exit_code == 0, result.stderr
    samples = list(bundled.WEIGHTS.parent.glob("samples/*.png"))
    assert "every sample decoded to identical pixels" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(samples) + 1 and rows[-1].startswith("| total")      # head, samples, total
    assert "WebP" in rows[0] and "PNG" in rows[0] and ("smaller than" in result.stdout or "loses" in result.stdout)


@pytest.mark.skipif(not all((bundled.WEIGHTS / b.file).exists() for b in bundled.BUNDLED),
                    reason="no bundled weights in this checkout")
def test_every_bundled_model_has_its_pinned_hash_and_id():
    for b in bundled.BUNDLED:
        assert hashlib.sha256((bundled.WEIGHTS / b.file).read_bytes()).hexdigest() == b.sha256
        assert Codec(bundled.load(b.name)).id.hex() == b.model_id, b.name
    assert len({b.model_id for b in bundled.BUNDLED}) == len(bundled.BUNDLED)


def test_decoding_loads_only_the_model_the_file_names(tmp_path, monkeypatch):
    """The default's golden files decode without -m, re-encode byte for byte (the first as the
    encoder then was, without online mixing; the second as effort 2 then was, with it; the third
    at effort 2, through context mixing), and building it touches no
    other bundled model (ids are pinned, so none is hashed to find it)."""
    data = Path(__file__).parent / "data"
    default = bundled.for_mode("RGB")
    built = []
    monkeypatch.setattr(bundled, "load", lambda name: built.append(name) or checkpoint.load_model(bundled.WEIGHTS / bundled.get(name).file))
    bundled.codec.cache_clear()
    try:
        result = run("decompress", data / "golden_photo_rgb_v6.pxc", "-o", tmp_path / "back.png")
        assert result.exit_code == 0, result.stderr
        assert built == [default.name] and default.file == "photo_rgb_v6.pt"
        image = torch.from_numpy(pixels(data / "golden_photo_rgb_v1.png")[1]).permute(2, 0, 1).contiguous()
        assert np.array_equal(pixels(tmp_path / "back.png")[1], pixels(data / "golden_photo_rgb_v1.png")[1])
        assert Codec(bundled.codec(default.name).model, online=False).compress(image, "RGB").data == (
            data / "golden_photo_rgb_v6.pxc").read_bytes()
        model = bundled.codec(default.name).model
        # each adaptive stage's file: its version, its section, and a codec that writes it again
        for name, version, key, codec in (
                ("online", 7, "online", Codec(model, tuning=False, deltas=False)),
                ("cm", 11, "cm", Codec(model, tuning=False, deltas=False, cm=1)),
                ("cm2", 12, "cm2", Codec(model, tuning=False, deltas=False, cm=2)),
                ("cm3", 13, "cm3", Codec.at_effort(model, 2, tile=64))):
            path = data / f"golden_photo_rgb_v6_{name}.pxc"
            header = parse(path.read_bytes())[0]
            assert header.version == version and getattr(header.side, key) is not None
            result = run("decompress", path, "-o", tmp_path / f"back_{name}.png")
            assert result.exit_code == 0 and np.array_equal(pixels(tmp_path / f"back_{name}.png")[1],
                                                            pixels(data / "golden_photo_rgb_v1.png")[1])
            assert codec.compress(image, "RGB").data == path.read_bytes(), name
        assert built == [default.name]
    finally:
        bundled.codec.cache_clear()


@pytest.mark.parametrize("version, file", [(1, "photo_rgb.pt"), (2, "photo_rgb_v2.pt"), (3, "photo_rgb_v3.pt"),
                                           (4, "photo_rgb_v4.pt"), (5, "photo_rgb_v5.pt")])
def test_files_written_by_a_retired_default_still_decode_without_a_model(tmp_path, version, file):
    """golden_photo_rgb_v1.pxc to _v5.pxc were written by the first five bundled defaults
    (now decode-only), from golden_photo_rgb_v1.png."""
    data = Path(__file__).parent / "data"
    assert all(b.modes == () or b.file != file for b in bundled.BUNDLED)   # it is retired
    result = run("decompress", data / f"golden_photo_rgb_v{version}.pxc", "-o", tmp_path / "back.png")
    assert result.exit_code == 0, result.stderr
    (mode, back), (_, original) = pixels(tmp_path / "back.png"), pixels(data / "golden_photo_rgb_v1.png")
    assert mode == "RGB" and np.array_equal(back, original)


def test_a_checkpoint_that_claims_a_huge_model_is_refused_before_it_is_built(tmp_path):
    """Outside the bundled files (pinned by digest), the size check stays: hyperparameters that
    would build more than MAX_PARAMETERS are refused from a meta build that allocates nothing."""
    checkpoint.save(tmp_path / "small.pt", tiny_model("pixelcnn", 3))
    state = checkpoint.load(tmp_path / "small.pt")
    state["hparams"] = {**state["hparams"], "hidden": 12_000}
    torch.save(state, tmp_path / "huge.pt")
    with pytest.raises(checkpoint.PixcodecError, match="parameters, more than"):
        checkpoint.load_model(tmp_path / "huge.pt")
    assert checkpoint.load_model(tmp_path / "small.pt") is not None


@pytest.mark.skipif(not all((bundled.WEIGHTS / b.file).exists() for b in bundled.BUNDLED),
                    reason="no bundled weights in this checkout")
def test_the_bundled_models_are_within_the_size_that_unpinned_checkpoints_must_keep():
    for b in bundled.BUNDLED:
        assert sum(p.numel() for p in bundled.load(b.name).parameters()) <= checkpoint.MAX_PARAMETERS
