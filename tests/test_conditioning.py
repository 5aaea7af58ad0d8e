"""Class conditioning end to end: labelled data, training, conditional bits/dim, class samples."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from pixcodec.training.conditioning import ClassCondition
from pixcodec.training.data import open_dataset
from pixcodec.errors import PixcodecError

from conftest import structured_images, tiny_hparams


def run(*args):
    return CliRunner().invoke(__import__("pixcodec.cli.main", fromlist=["app"]).app, [str(a) for a in args])


def hparams(name="gated_pixelcnn"):
    return [a for k, v in tiny_hparams(name).items() for a in ("-H", f"{k}={v}")]


@pytest.fixture(scope="module")
def classes_folder(tmp_path_factory):
    """Two classes of 6x6 gray images, one subfolder each: dark stripes and bright blocks."""
    root = tmp_path_factory.mktemp("labelled")
    for name, images in (("dark", structured_images(10, 1, 6, 6, seed=3) // 4),
                         ("bright", 255 - structured_images(10, 1, 6, 6, seed=4) // 4)):
        (root / name).mkdir()
        for k, img in enumerate(images):
            Image.fromarray(img[..., 0]).save(root / name / f"{k}.png")
    return root


def test_a_folder_of_subfolders_is_labelled_and_each_class_is_held_out(classes_folder):
    train, test = open_dataset(str(classes_folder), split="train"), open_dataset(str(classes_folder), split="test")
    assert train.classes == test.classes == ["bright", "dark"]
    assert sorted(set(train.labels)) == [0, 1] and sorted(test.labels) == [0, 1]    # one held out per class
    assert not set(train.files) & set(test.files)
    condition = ClassCondition.of_dataset(train)
    assert condition.label("dark") == 1 and condition.label("0") == 0
    assert torch.equal(condition.one_hot(torch.tensor([1, 0])), torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    with pytest.raises(PixcodecError, match="no class"):
        condition.label("grey")


def test_unlabelled_data_is_refused(tmp_path):
    for k in range(3):
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / f"{k}.png")
    with pytest.raises(PixcodecError, match="labelled"):
        ClassCondition.of_dataset(open_dataset(str(tmp_path)))


def test_class_conditional_train_eval_and_sample(classes_folder, tmp_path):
    ckpt = tmp_path / "cc.pt"
    result = run("train", "--data", classes_folder, "--condition", "class", *hparams(), "--steps", 3,
                 "--batch-size", 4, "--crop", 6, "--eval-every", 0, "--out", ckpt, "--quiet")
    assert result.exit_code == 0, result.output
    line = json.loads(run("eval", ckpt, "--json").stdout)
    assert line["conditional"] and 0 < line["bits_per_dim"] < 9
    assert "class-conditional bits/dim" in run("eval", ckpt).stdout
    result = run("sample", ckpt, "-n", 2, "--each-class", "-o", tmp_path / "grid.png", "--size", 5)
    assert result.exit_code == 0 and "2 per class" in result.stdout, result.output
    with Image.open(tmp_path / "grid.png") as grid:          # 2 rows (classes) x 2 samples, 2-pixel padding
        assert grid.size == (2 + 2 * 7, 2 + 2 * 7)
    assert run("sample", ckpt, "-n", 2, "--class", "dark", "-o", tmp_path / "d.png", "--size", 4).exit_code == 0
    bad = run("sample", ckpt, "-n", 2, "--class", "grey", "-o", tmp_path / "x.png")
    assert bad.exit_code == 1 and "no class" in bad.stderr and "Traceback" not in bad.stderr
    # resuming must keep the condition; a model without a conditioning input is refused
    again = run("train", "--data", classes_folder, "--steps", 4, "--out", ckpt, "--resume", "--quiet")
    assert again.exit_code == 0, again.output
    assert json.loads(run("eval", ckpt, "--json").stdout)["conditional"]
    refused = run("train", "--model", "pixelcnn", "--data", classes_folder, "--condition", "class", "--steps", 1,
                  "--out", tmp_path / "p.pt")
    assert refused.exit_code == 1 and "no conditioning" in refused.stderr


def test_unconditional_models_refuse_class_options(tmp_path, classes_folder):
    ckpt = tmp_path / "u.pt"
    assert run("train", "--data", classes_folder, *hparams(), "--steps", 1, "--batch-size", 4,
               "--crop", 6, "--eval-every", 0, "--out", ckpt, "--quiet").exit_code == 0
    result = run("sample", ckpt, "--class", "1", "-o", tmp_path / "g.png")
    assert result.exit_code == 1 and "class-conditional" in result.stderr
