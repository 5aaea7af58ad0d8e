"""compress / decompress / info / sample through click's CliRunner, good input and bad."""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from pixcodec import checkpoint

from conftest import tiny_model

GOLDEN_MODEL = Path(__file__).parent / "data" / "golden_model.pt"


def run(*args):
    return CliRunner().invoke(__import__("pixcodec.cli.main", fromlist=["app"]).app, [str(a) for a in args])


def clean_error(result, *fragments):
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr and result.stderr.startswith(("Error", "Usage")), result.stderr
    assert all(f in result.stderr for f in fragments), result.stderr


@pytest.fixture()
def work(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    Image.fromarray(rng.integers(0, 256, (7, 5), dtype=np.uint8)).save(tmp_path / "gray.png")
    Image.fromarray(rng.integers(0, 2, (6, 9), dtype=np.uint8).astype(bool)).save(tmp_path / "bits.png")
    Image.fromarray(rng.integers(0, 256, (4, 4, 4), dtype=np.uint8)).save(tmp_path / "rgba.png")
    Image.fromarray(np.full((4, 4), 40000, np.uint16)).save(tmp_path / "deep.png")
    Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).convert("P").save(tmp_path / "pal.png")
    for name in ("rgba", "deep", "pal"):                # Pillow reads these formats; it would reduce them
        with Image.open(tmp_path / f"{name}.png") as img:
            img.save(tmp_path / f"{name}.tif")
    checkpoint.save(tmp_path / "gray.pt", tiny_model("gated_pixelcnn", 1))
    return tmp_path


def pixels(path):
    with Image.open(path) as img:
        return img.mode, np.asarray(img).copy()


def test_round_trip_rgb_with_verify_and_info(work):
    result = run("compress", work / "rgb.png", "-m", GOLDEN_MODEL, "--verify")
    assert result.exit_code == 0, result.stderr
    assert "bits/subpixel" in result.stdout and "verified" in result.stdout
    result = run("decompress", work / "rgb.pxc", "-m", GOLDEN_MODEL, "-o", work / "back.png")
    assert result.exit_code == 0, result.stderr
    assert pixels(work / "back.png")[0] == "RGB"
    assert np.array_equal(pixels(work / "back.png")[1], pixels(work / "rgb.png")[1])
    info = json.loads(run("info", work / "rgb.pxc", "--json").stdout)
    assert info["width"] == 11 and info["height"] == 9 and info["mode"] == "RGB" and info["header_bytes"] <= 64
    assert "model_id" in run("info", work / "rgb.pxc").stdout


def test_a_gray_rgb_picture_in_few_levels_through_the_cli(work):
    """The bundled model codes an RGB picture whose channels are equal as gray, among its 16 levels."""
    i, j = np.meshgrid(np.arange(30), np.arange(26), indexing="ij")
    gray = ((i + j) // 3 % 16 * 17).astype(np.uint8)
    Image.fromarray(np.repeat(gray[..., None], 3, 2)).save(work / "levels.png")
    assert run("compress", work / "levels.png", "--verify").exit_code == 0
    info = json.loads(run("info", work / "levels.pxc", "--json").stdout)
    assert info["format_version"] == 13 and info["coded_as_gray"] and info["value_set_sizes"] == [16]
    assert run("decompress", work / "levels.pxc", "-o", work / "back.png").exit_code == 0
    assert pixels(work / "back.png")[0] == "RGB"
    assert np.array_equal(pixels(work / "back.png")[1], pixels(work / "levels.png")[1])


def test_a_tuned_head_shows_in_info_and_decodes(work):
    """The golden predictive model refits its last layer to the tuned golden picture (version 5)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN_MODEL.parent / "make_golden.py")
    golden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(golden)
    model = GOLDEN_MODEL.parent / "golden_predictive.pt"
    Image.fromarray(golden.golden_tuned_image().permute(1, 2, 0).numpy()).save(work / "tuned.png")
    assert run("compress", work / "tuned.png", "-m", model, "--verify").exit_code == 0
    info = json.loads(run("info", work / "tuned.pxc", "--json").stdout)
    assert info["format_version"] == 13 and info["tuned_head_deltas"] == 60
    assert run("decompress", work / "tuned.pxc", "-m", model, "-o", work / "back.png").exit_code == 0
    assert np.array_equal(pixels(work / "back.png")[1], pixels(work / "tuned.png")[1])


def test_a_picture_in_few_colours_is_coded_through_its_palette(work):
    colors = np.array([[10, 200, 30], [10, 200, 90], [120, 40, 60], [250, 250, 250], [3, 7, 11]], dtype=np.uint8)
    i, j = np.meshgrid(np.arange(30), np.arange(26), indexing="ij")
    Image.fromarray(colors[(i // 5 + j // 7) % 5]).save(work / "few.png")
    assert run("compress", work / "few.png", "--verify").exit_code == 0
    info = json.loads(run("info", work / "few.pxc", "--json").stdout)
    assert info["format_version"] == 13 and info["palette_colors"] == 5 and info["value_set_sizes"] is None
    assert run("decompress", work / "few.pxc", "-o", work / "back.png").exit_code == 0
    assert np.array_equal(pixels(work / "back.png")[1], pixels(work / "few.png")[1])


def test_gray_and_one_bit_images_keep_their_mode(work):
    for name in ("gray", "bits"):
        assert run("compress", work / f"{name}.png", "-m", work / "gray.pt").exit_code == 0
        assert run("decompress", work / f"{name}.pxc", "-m", work / "gray.pt", "-o", work / f"{name}2.png").exit_code == 0
        (m1, a1), (m2, a2) = pixels(work / f"{name}.png"), pixels(work / f"{name}2.png")
        assert m1 == m2 and np.array_equal(a1, a2)


def test_folders_and_out_dir_keep_the_tree(work):
    (work / "in" / "sub").mkdir(parents=True)
    for target in (work / "in" / "a.png", work / "in" / "sub" / "b.png"):
        target.write_bytes((work / "gray.png").read_bytes())
    result = run("compress", work / "in", "-m", work / "gray.pt", "--out-dir", work / "out")
    assert result.exit_code == 0 and "total:" in result.stdout, result.stderr
    assert (work / "out" / "sub" / "b.pxc").exists()
    assert run("decompress", work / "out", "-m", work / "gray.pt", "--out-dir", work / "png").exit_code == 0
    assert np.array_equal(pixels(work / "png" / "sub" / "b.png")[1], pixels(work / "gray.png")[1])


def test_existing_outputs_are_kept_without_force(work):
    assert run("compress", work / "rgb.png", "-m", GOLDEN_MODEL).exit_code == 0
    before = (work / "rgb.pxc").read_bytes()
    clean_error(run("compress", work / "rgb.png", "-m", GOLDEN_MODEL), "exists", "--force")
    assert (work / "rgb.pxc").read_bytes() == before
    assert run("compress", work / "rgb.png", "-m", GOLDEN_MODEL, "--force").exit_code == 0


@pytest.mark.parametrize("name", ["rgba.png", "deep.png", "pal.png"])
def test_pngs_with_alpha_16_bits_or_a_palette_come_back_exactly(work, name):
    assert run("compress", work / name, "-m", GOLDEN_MODEL).exit_code == 0
    pxc = work / name.replace(".png", ".pxc")
    result = run("decompress", pxc, "-m", GOLDEN_MODEL, "-o", work / "back.png")
    assert result.exit_code == 0, result.stderr
    (mode, back), (original_mode, original) = pixels(work / "back.png"), pixels(work / name)
    assert mode == original_mode and back.dtype == original.dtype and np.array_equal(back, original)


@pytest.mark.parametrize("name, fragment", [("rgba.tif", "alpha"), ("deep.tif", "16-bit"), ("pal.tif", "palette"),
                                            ("missing.png", "no such file"), ("rgb.png", "1-channel")])
def test_unsupported_images_are_refused(work, name, fragment):
    model = work / "gray.pt" if name == "rgb.png" else GOLDEN_MODEL   # a gray model cannot code RGB
    clean_error(run("compress", work / name, "-m", model), fragment)
    assert not list(work.glob("*.pxc")) and not list(work.glob(".*tmp"))


def test_damaged_and_foreign_files_are_refused(work):
    assert run("compress", work / "rgb.png", "-m", GOLDEN_MODEL).exit_code == 0
    good = (work / "rgb.pxc").read_bytes()
    cases = {"trunc.pxc": (good[:-5], "truncated"), "short.pxc": (good[:20], "truncated"),
             "magic.pxc": (b"PNG" + good[3:], "not a .pxc"), "head.pxc": (good[:10] + bytes([good[10] ^ 1]) + good[11:], "header"),
             "body.pxc": (good[:-3] + bytes([good[-3] ^ 0x40]) + good[-2:], "corrupt")}
    for name, (data, fragment) in cases.items():
        (work / name).write_bytes(data)
        clean_error(run("decompress", work / name, "-m", GOLDEN_MODEL), fragment)
        assert not (work / name).with_suffix(".png").exists()
    clean_error(run("decompress", work / "rgb.pxc", "-m", work / "gray.pt", "-o", work / "o.png"), "another model")
    clean_error(run("decompress", work / "rgb.pxc", "-m", GOLDEN_MODEL), "rgb.png exists")    # never the source
    clean_error(run("decompress", work / "nothing.pxc", "-m", GOLDEN_MODEL), "no such file")
    clean_error(run("info", work / "magic.pxc"), "not a .pxc")


def test_bad_options(work):
    clean_error(run("compress", work / "rgb.png", work / "gray.png", "-m", GOLDEN_MODEL, "-o", work / "x.pxc"), "--out-dir")
    clean_error(run("compress", work / "rgb.png", "-m", GOLDEN_MODEL, "-o", work / "no" / "dir" / "x.pxc"), "no such directory")
    clean_error(run("compress", work / "rgb.png", "-m", work / "rgb.png"), "not a readable pixcodec checkpoint")
    clean_error(run("compress", work / "rgb.png", "-m", GOLDEN_MODEL, "--tile", "0"), "--tile")


def test_sample_and_complete(work):
    result = run("sample", work / "gray.pt", "-n", 4, "--size", 5, "-o", work / "grid.png", "--seed", 3)
    assert result.exit_code == 0, result.stderr
    assert pixels(work / "grid.png")[0] == "L"
    again = run("sample", work / "gray.pt", "-n", 4, "--size", 5, "-o", work / "grid2.png", "--seed", 3)
    assert again.exit_code == 0 and (work / "grid.png").read_bytes() == (work / "grid2.png").read_bytes()
    clean_error(run("sample", work / "gray.pt", "-o", work / "grid.png"), "exists")
    result = run("sample", work / "gray.pt", "-n", 2, "--complete", work / "gray.png", "--keep-rows", 3,
                 "-o", work / "done.png")
    assert result.exit_code == 0, result.stderr
    grid = pixels(work / "done.png")[1]
    original = pixels(work / "gray.png")[1]
    for k in range(3):                       # the kept rows of every completion equal the original's
        left = 2 + k * (5 + 2)
        assert np.array_equal(grid[2:5, left:left + 5], original[:3])


def test_files_are_the_same_whether_compressed_alone_or_together(work):
    (work / "a").mkdir()
    (work / "b").mkdir()
    for name in ("gray.png", "bits.png"):
        assert run("compress", work / name, "-m", work / "gray.pt", "--out-dir", work / "a").exit_code == 0
    assert run("compress", work / "gray.png", work / "bits.png", "-m", work / "gray.pt", "--out-dir", work / "b").exit_code == 0
    for name in ("gray.pxc", "bits.pxc"):
        assert (work / "a" / name).read_bytes() == (work / "b" / name).read_bytes()
