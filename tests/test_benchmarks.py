"""The benchmarks run and write the JSON they promise (figures themselves are for the report)."""
import importlib.util
import json
from pathlib import Path

from click.testing import CliRunner

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_throughput_writes_json(tmp_path):
    out = tmp_path / "t.json"
    result = CliRunner().invoke(load("train_throughput").main, [
        "--out", str(out), "--size", "small", "--repeats", "1", "--warmup", "0", "--batch-size", "2",
        "--model", "pixelcnn", "--model", "row_lstm"])          # every model: the real run's job
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    rows = report["results"]
    assert {r["model"] for r in rows} == {"pixelcnn", "row_lstm"} and len(rows) == 4
    assert all(r["images_per_s"] > 0 and r["device"] == "cpu" for r in rows)


def test_train_throughput_compares_the_closed_form_loss(tmp_path):
    out = tmp_path / "t.json"
    result = CliRunner().invoke(load("train_throughput").main, [
        "--out", str(out), "--size", "photo", "--repeats", "1", "--warmup", "0", "--batch-size", "1",
        "--model", "pixelcnn"])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["results"]
    assert len(rows) == 2 and all(r["hparams"]["head"] == "predictive" and r["closed_form_speedup"] > 0 for r in rows)


def test_codec_speed_writes_json(tmp_path):
    out = tmp_path / "c.json"
    result = CliRunner().invoke(load("codec_speed").main, [
        "--out", str(out), "--channels", "1", "-H", "hidden=6", "-H", "layers=1", "-H", "out_hidden=6",
        "--images", "2", "--skip-photo", "--naive-steps", "4", "--repeats", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["naive_vs_cached"]["speedup"] > 1
    assert report["batches_32"]["file_over_nll"] > 1 and report["batches_32"]["payload_over_nll"] < 1.01


def test_classic_codecs_mnist_writes_json(tmp_path):
    from conftest import SHARED_DATA
    import pytest
    if not (SHARED_DATA / "MNIST").exists():
        pytest.skip("../shared/data is absent")
    out = tmp_path / "m.json"
    result = CliRunner().invoke(load("classic_codecs_mnist").main, ["--data-dir", str(SHARED_DATA), "--limit", "5",
                                                                    "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["mnist"]["images"] == 5 and report["mnist"]["png_bits_per_subpixel"] > 0


def test_train_test_overlap_finds_a_cropped_copy(tmp_path):
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    (tmp_path / "train").mkdir(), (tmp_path / "test").mkdir()
    photo = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "train" / "big.png")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "train" / "other.png")
    Image.fromarray(photo[10:50, 23:70]).save(tmp_path / "test" / "crop.png")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "test" / "new.png")
    out = tmp_path / "o.json"
    result = CliRunner().invoke(load("train_test_overlap").main, [str(tmp_path / "train"), str(tmp_path / "test"),
                                                                   "--out", str(out)])
    assert result.exit_code == 0, result.output
    copies = json.loads(out.read_text())["copies"]
    assert [(h["train"], h["top"], h["left"]) for h in copies["crop.png"]] == [("big.png", 10, 23)]
    assert copies["new.png"] == []


def test_cm_ablation_measures_every_family_on_real_bytes(tmp_path):
    import subprocess
    import sys

    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    image = np.clip(np.cumsum(rng.integers(-4, 5, (24, 20, 3)), 1) + 128, 0, 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "a.png")
    out = tmp_path / "a.json"
    subprocess.run([sys.executable, str(BENCH / "cm_ablation.py"), str(tmp_path / "a.png"), "--out", str(out)],
                   check=True, capture_output=True, timeout=600)
    report = json.loads(out.read_text())
    ablation = load("cm_ablation")
    assert set(report["mean"]) == {"network alone", "revision 1 (v11)", "revision 2 (v12)", "revision 3 (v13)",
                                   "context mixing alone (flat weights)"} | {
        "without " + f for f in (*ablation.FAMILIES, *ablation.ADDITIONS)}
    assert all(0 < v < 8.5 for v in report["mean"].values())


def run_on_a_photo(tmp_path, script: str, shape: tuple, seed: int, *options: str) -> dict:
    """Run benchmarks/SCRIPT --photo on a small smooth RGB photo of ``shape``; its JSON."""
    import subprocess
    import sys

    import numpy as np
    from PIL import Image
    image = np.clip(np.cumsum(np.random.default_rng(seed).integers(-4, 5, shape), 1) + 128, 0, 255)
    Image.fromarray(image.astype(np.uint8)).save(tmp_path / "a.png")
    out = tmp_path / "a.json"
    subprocess.run([sys.executable, str(BENCH / script), "--photo", str(tmp_path / "a.png"), "--repeats", "1",
                    *options, "--out", str(out)], check=True, capture_output=True, timeout=600)
    return json.loads(out.read_text())


def test_cm_decode_ab_times_every_revision(tmp_path):
    rows = run_on_a_photo(tmp_path, "cm_decode_ab.py", (12, 16, 3), 1, "--threads", "1")["rows"]
    assert [r["variant"] for r in rows] == list(load("cm_decode_ab").VARIANTS)
    assert all(r["decode_s_median"] > 0 and 0 < r["bits_per_subpixel"] < 9 for r in rows)


def test_ahead_ab_times_the_network_beside_the_stage(tmp_path):
    rows = run_on_a_photo(tmp_path, "ahead_ab.py", (9, 70, 3), 2)["rows"]          # two tiles
    assert [r["variant"] for r in rows] == list(load("ahead_ab").VARIANTS)
    assert len({r["bits_per_subpixel"] for r in rows[1:]}) == 1 and rows[1]["bits_per_subpixel"] < rows[0]["bits_per_subpixel"]


def test_speed_writes_every_figure_of_a_real_round_trip(tmp_path):
    report = run_on_a_photo(tmp_path, "speed.py", (40, 36, 3), 3, "--threads", "1")
    for case in ("effort1_in_process", f"effort{report['default_effort']}_in_process"):
        assert report[case]["encode_s"] > 0 and report[case]["decode_s"] > 0 and 0 < report[case]["bits_per_subpixel"] < 9
    for case in ("photo_cli", "small32_cli"):
        peak = report[case]["decompress_peak_mb"]
        assert report[case]["compress_s"] > 0.1 and (peak is None or 50 < peak < 3000)
    assert report["size"] == [3, 40, 36]
