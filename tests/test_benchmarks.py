"""The benchmarks run and write the JSON they promise (figures themselves are for the report)."""
import importlib.util
import json
from pathlib import Path

import pytest
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
    smooth_photo(tmp_path / "a.png", shape, seed)
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


def smooth_photo(path: Path, shape: tuple, seed: int) -> None:
    import numpy as np
    from PIL import Image
    image = np.clip(np.cumsum(np.random.default_rng(seed).integers(-4, 5, shape), 1) + 128, 0, 255)
    Image.fromarray(image.astype(np.uint8)).save(path)


def test_decode_memory_measures_an_exact_round_trip_of_a_mosaic(tmp_path):
    import subprocess
    import sys
    photos = tmp_path / "photos"
    photos.mkdir()
    for k, shape in enumerate([(30, 25, 3), (20, 40, 3), (30, 30, 3), (20, 30, 3)]):
        smooth_photo(photos / f"{k}.png", shape, k)
    out = tmp_path / "m.json"
    subprocess.run([sys.executable, str(BENCH / "decode_memory.py"), "--side", "48", "--effort", "1", "--photos",
                    str(photos), "--out", str(out)], check=True, capture_output=True, timeout=600)
    report = json.loads(out.read_text())
    assert report["exact"] is True and report["decompress_s"] > 0 and 0 < report["bits_per_subpixel"] < 9
    assert report["decompress_peak_mb"] is None or 50 < report["decompress_peak_mb"] < 3000
    mosaic = load("decode_memory").mosaic(photos, 48)
    assert mosaic.shape == (48, 48, 3) and mosaic[:30, :25].any() and mosaic[:20, 25:48].any() and mosaic[30:, 30:].any()
    with pytest.raises(SystemExit):
        load("decode_memory").mosaic(photos, 96)                     # too few photos to fill it


def test_encoder_budget_codes_every_image_at_every_budget(tmp_path):
    import subprocess
    import sys
    smooth_photo(tmp_path / "a.png", (20, 24, 3), 4)
    out = tmp_path / "b.json"
    subprocess.run([sys.executable, str(BENCH / "encoder_budget.py"), str(tmp_path / "a.png"), "--budgets",
                    "default,fit_half", "--threads", "1", "--out", str(out)], check=True, capture_output=True, timeout=600)
    report = json.loads(out.read_text())
    assert [r["budget"] for r in report["rows"]] == ["default", "fit_half"]
    assert set(report["summary"]) == {"default", "fit_half"} and report["summary"]["fit_half"]["fit"][0] == 15
    assert all(0 < r["bits_per_subpixel"] < 9 and r["encode_s"] > 0 for r in report["rows"])


def test_ae_experiment_trains_evaluates_and_draws_every_run(tmp_path, monkeypatch):
    import sys
    import numpy as np
    from conftest import structured_images
    from PIL import Image
    rng = np.random.default_rng(0)
    (tmp_path / "data" / "cifar10-subset").mkdir(parents=True)
    np.savez(tmp_path / "data" / "cifar10-subset" / "cifar10_subset.npz",
             x_train=structured_images(40, 3, 32, 32, seed=2), y_train=rng.integers(0, 10, 40),
             x_test=structured_images(4, 3, 32, 32, seed=3), y_test=rng.integers(0, 10, 4))
    experiment = load("ae_experiment")
    monkeypatch.setattr(experiment, "DECODER", dict(hidden=6, layers=1, out_hidden=6))
    args = ["ae_experiment.py", "--data-dir", str(tmp_path / "data"), "--datasets", "cifar10", "--bottlenecks", "2",
            "--minutes", "0.003", "--baseline-minutes", "0.003", "--eval-images", "4", "--pictures", "2",
            "--draws", "2", "--checkpoints", str(tmp_path / "ck"), "--out", str(tmp_path / "out"),
            "--only", "cifar10_plain,cifar10_vector2,cifar10_conv2,cifar10_codes_freebits"]
    monkeypatch.setattr(sys, "argv", args)
    experiment.main()
    rows = {r["run"]: r for r in json.loads((tmp_path / "out" / "summary.json").read_text())["runs"]}
    assert set(rows) == {"cifar10_plain", "cifar10_vector2", "cifar10_conv2", "cifar10_codes_freebits"}
    assert rows["cifar10_codes_freebits"]["latent_bits_per_dim"] > 0 and rows["cifar10_plain"]["gain_over_plain"] is None
    assert all(r["steps"] >= 1 and 0 < r["bits_per_dim"] < 20 for r in rows.values())
    vector = rows["cifar10_vector2"]
    assert vector["gain_over_plain"] == pytest.approx(rows["cifar10_plain"]["bits_per_dim"] - vector["bits_per_dim"])
    assert vector["baseline"] == "cifar10_conv2" and vector["draws_mse"] > 0 and vector["baseline_mse"] >= 0
    assert vector["bits_per_dim_given_another_h"] > 0 and rows["cifar10_conv2"]["reconstruction_mse"] > 0
    with Image.open(tmp_path / "out" / "reconstruct_cifar10_vector2.png") as grid:
        assert grid.size == (2 + 4 * 34, 2 + 2 * 34)                 # original, 2 draws, baseline
    kept = (tmp_path / "out" / "runs" / "cifar10_plain.json").read_text()
    experiment.main()                                                 # a rerun keeps the finished runs
    assert (tmp_path / "out" / "runs" / "cifar10_plain.json").read_text() == kept
