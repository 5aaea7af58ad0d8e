"""Every command through click's CliRunner: help, real runs, and one clean line for bad input."""
import json

import pytest
import torch
from click.testing import CliRunner

from pixcodec.cli.main import app

from conftest import tiny_hparams

COMMANDS = sorted(app.commands)


def run(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


def hparam_args(name="gated_pixelcnn"):
    out = []
    for k, v in tiny_hparams(name).items():
        out += ["-H", f"{k}={v}"]
    return out


def assert_clean_error(result, *fragments):
    assert result.exit_code != 0
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and all(f in result.stderr for f in fragments), result.stderr
    return lines


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help(command):
    result = run(*([command] if command else []), "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


def test_models_lists_the_registry():
    result = run("models")
    assert result.exit_code == 0
    assert "pixelcnn: hidden=" in result.output and "gated_pixelcnn:" in result.output


@pytest.fixture(scope="module")
def trained(tiny_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "m.pt"
    result = run("train", "--data", f"cifar10-npz:{tiny_npz}", *hparam_args(), "--steps", 4,
                 "--batch-size", 4, "--eval-every", 2, "--eval-images", 2, "--out", out, "--json")
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout.count("held-out") == 2
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["step"] == 4 and line["eval_bpd"] > 0
    return out


def test_train_then_eval_json(trained, tiny_npz):
    result = run("eval", trained, "--json", "--limit", 3)
    assert result.exit_code == 0, result.stderr
    line = json.loads(result.stdout)
    assert line["images"] == 3 and line["subpixels"] == 3 * 3 * 8 * 8
    assert line["data"] == f"cifar10-npz:{tiny_npz}" and 0 < line["bits_per_dim"] < 9
    text = run("eval", trained, "--split", "train")
    assert text.exit_code == 0 and "bits/dim" in text.stdout and "16 images" in text.stdout


def test_resume_continues_and_refuses_changes(trained, tmp_path):
    copy = tmp_path / "m.pt"
    copy.write_bytes(trained.read_bytes())
    result = run("train", "--out", copy, "--resume", "--steps", 6, "--quiet", "--precision", "fp32")
    assert result.exit_code == 0, result.stderr
    state = torch.load(copy, weights_only=True)
    assert state["step"] == 6
    assert state["config"]["precision"] == "fp32", "precision is hardware's choice, not the run's: resume may change it"
    assert_clean_error(run("train", "--out", copy, "--resume", "--lr", "0.5"), "--resume", "lr")
    assert_clean_error(run("train", "--out", copy, "--model", "pixelcnn", "--resume"), "model")


def test_train_on_a_folder_excludes_named_images_and_records_them(tmp_path):
    from PIL import Image
    photos = tmp_path / "photos"
    photos.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(12):
        pixels = torch.randint(0, 256, (16, 16, 3), generator=g, dtype=torch.uint8).numpy()
        Image.fromarray(pixels).save(photos / f"p{i:02d}.png")
    out = tmp_path / "m.pt"
    args = ["train", "--model", "pixelcnn", *hparam_args("pixelcnn"), "-H", "head=predictive", "--data", photos,
            "--crop", 8, "--batch-size", 2, "--eval-images", 1, "--quiet", "--out", out]
    result = run(*args, "--exclude", "p0[01].png", "--exclude", "p05.png", "--steps", 2)
    assert result.exit_code == 0, result.output + result.stderr
    state = torch.load(out, weights_only=True)
    assert state["config"]["exclude"] == ["p0[01].png", "p05.png"]
    assert state["data"]["train"]["excluded"] == ["p0[01].png", "p05.png"]
    assert state["data"]["train"]["images"] == 8            # 12 - 3 excluded, less the held-out tenth
    resumed = run("train", "--out", out, "--resume", "--steps", 3, "--quiet")
    assert resumed.exit_code == 0 and torch.load(out, weights_only=True)["step"] == 3
    assert_clean_error(run("train", "--out", out, "--resume", "--exclude", "p05.png"), "--resume", "exclude")
    assert_clean_error(run(*args[:-1], tmp_path / "n.pt", "--exclude", "pepper.png"), "pepper.png", "matches no image")
    assert not (tmp_path / "n.pt").exists()


def test_train_init_takes_the_checkpoints_architecture_and_refuses_another(tiny_npz, tmp_path):
    base = tmp_path / "base.pt"
    args = ["--data", f"cifar10-npz:{tiny_npz}", "--steps", 1, "--batch-size", 4, "--eval-images", 1, "--quiet"]
    assert run("train", "--model", "pixelcnn", *hparam_args("pixelcnn"), *args, "--out", base).exit_code == 0
    tuned = tmp_path / "tuned.pt"
    result = run("train", "--init", base, "--augment", "flip", *args, "--out", tuned)
    assert result.exit_code == 0, result.output + result.stderr
    state, source = torch.load(tuned, weights_only=True), torch.load(base, weights_only=True)
    assert state["model"] == "pixelcnn" and state["hparams"] == source["hparams"]
    assert state["config"]["augment"] == "flip" and state["data"]["init"]["path"] == str(base)
    assert_clean_error(run("train", "--out", tuned, "--resume", "--augment", "none"), "--resume", "augment")
    started = run("train", "--init", base, *args, "--out", tmp_path / "started.pt", "--resume")
    assert started.exit_code == 0, started.stderr                  # --resume with nothing to resume yet
    assert torch.load(tmp_path / "started.pt", weights_only=True)["model"] == "pixelcnn"
    assert_clean_error(run("train", "--init", base, "--model", "gated_pixelcnn", *args, "--out", tmp_path / "x.pt"),
                       "--init", "pixelcnn")
    assert_clean_error(run("train", "--init", tmp_path / "none.pt", *args, "--out", tmp_path / "x.pt"),
                       "no such checkpoint")
    assert not (tmp_path / "x.pt").exists()


def test_train_refuses_to_overwrite_without_force(trained, tiny_npz):
    before = trained.read_bytes()
    assert_clean_error(run("train", "--data", f"cifar10-npz:{tiny_npz}", "--out", trained), "exists", "--force")
    assert trained.read_bytes() == before


@pytest.mark.parametrize("args, fragments", [
    (["train", "--model", "nope", "--out", "x.pt"], ["nope"]),
    (["train", "-H", "hidden", "--out", "x.pt"], ["KEY=VALUE"]),
    (["train", "-H", "width=3", "--data", "DATA", "--out", "x.pt"], ["no hyperparameter width"]),
    (["train", "--steps", "0", "--out", "x.pt"], ["--steps"]),
    (["train", "--steps", "2", "--epochs", "1", "--out", "x.pt"], ["not both"]),
    (["train", "--precision", "fp16", "--out", "x.pt"], ["--precision"]),
    (["train", "--data", "imagenet", "--out", "x.pt"], ["unknown data"]),
    (["train", "--data", "mnist", "--data-dir", "NOWHERE", "--out", "x.pt"], ["MNIST/raw"]),
    (["train", "--data", "DATA", "--batch-size", "64", "--out", "x.pt"], ["fewer than --batch-size"]),
    (["eval", "missing.pt"], ["no such checkpoint"]),
    (["eval", "BOGUS"], ["not a readable pixcodec checkpoint"]),
    (["eval", "TRUNCATED"], ["not a readable pixcodec checkpoint"]),
    (["eval", "CKPT", "--data", "mnist", "--data-dir", "NOWHERE"], ["MNIST/raw"]),
    (["eval", "CKPT", "--limit", "0"], ["--limit"]),
])
def test_bad_input_gives_one_clean_line(args, fragments, trained, tiny_npz, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "BOGUS").write_bytes(b"definitely not a checkpoint")
    (tmp_path / "TRUNCATED").write_bytes(trained.read_bytes()[:300])
    subst = {"DATA": f"cifar10-npz:{tiny_npz}", "CKPT": str(trained), "NOWHERE": str(tmp_path / "nowhere")}
    result = run(*[subst.get(a, a) for a in args])
    assert_clean_error(result, *fragments)
    assert not (tmp_path / "x.pt").exists()
