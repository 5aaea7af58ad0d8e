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
        "--out", str(out), "--size", "small", "--repeats", "1", "--warmup", "0", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    rows = report["results"]
    assert {r["model"] for r in rows} >= {"pixelcnn", "gated_pixelcnn"}
    assert all(r["images_per_s"] > 0 and r["device"] == "cpu" for r in rows)
