"""`pixcodec bench`, the classical codecs and the chart."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from pixcodec import bench, checkpoint
from pixcodec.chart import bar_chart
from pixcodec.classic import available

from conftest import tiny_model
from test_cli_codec import clean_error, run


@pytest.mark.parametrize("shape", [(5, 7), (6, 4, 3)])
def test_classical_codecs_are_lossless_with_pinned_settings(shape):
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    names = [c.name for c in available()]
    assert names[:2] == ["png", "webp"]
    for c in available():
        assert bench.same_pixels(np.asarray(c.decode(c.encode(pixels, 1), 1)), pixels), c.name


def test_same_pixels_catches_differences():
    a = np.zeros((3, 4), np.uint8)
    assert bench.same_pixels(np.stack([a] * 3, -1), a)
    b = np.stack([a] * 3, -1)
    b[1, 2, 2] = 1
    assert not bench.same_pixels(b, a) and not bench.same_pixels(a[:2], a)


def test_chart_is_a_png_with_one_bar_per_codec():
    data = bar_chart({"pixcodec": 2.5, "png": 4.0, "webp": 3.1}, "bits")
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG" and img.height > 3 * 28


def test_bench_command_writes_json_markdown_and_chart(tmp_path):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(rng.integers(0, 256, (4, 9), dtype=np.uint8)).save(tmp_path / "b.png")
    checkpoint.save(tmp_path / "m.pt", tiny_model("pixelcnn", 3))
    out = tmp_path / "report"
    result = run("bench", tmp_path / "a.png", tmp_path / "b.png", "-m", tmp_path / "m.pt", "--out", out, "--threads", 1)
    assert result.exit_code == 0, result.stderr
    report = json.loads((out / "bench.json").read_text())
    codecs = [c.name for c in available()]
    assert set(report["totals"]) == {"pixcodec", *codecs}
    assert len(report["rows"]) == 2 * (1 + len(codecs)) and all(r["exact"] for r in report["rows"])
    sizes = {(r["image"].split("/")[-1], r["codec"]): r for r in report["rows"]}
    assert sizes["b.png", "pixcodec"]["subpixels"] == 36 and sizes["b.png", "pixcodec"]["mode"] == "L"
    png = sizes["a.png", "png"]
    assert png["bits_per_subpixel"] == pytest.approx(8 * png["bytes"] / 90)
    assert "**all (pooled)**" in (out / "bench.md").read_text() and "| pixcodec |" in result.stdout
    assert (out / "bench.png").read_bytes()[:4] == b"\x89PNG"
    clean_error(run("bench", tmp_path / "a.png", "-m", tmp_path / "m.pt", "--out", out), "exists")
    again = run("bench", tmp_path / "a.png", "-m", tmp_path / "m.pt", "--out", out, "--force", "--threads", 1)
    assert again.exit_code == 0 and len(json.loads((out / "bench.json").read_text())["rows"]) == 1 + len(codecs)
    clean_error(run("bench", tmp_path / "missing.png", "-m", tmp_path / "m.pt", "--out", tmp_path / "r2"), "no such file")
