"""Training: the loss falls, checkpoints resume bit for bit, DDP shards and averages correctly."""
import dataclasses
import os
import subprocess
import sys

import pytest
import torch

from pixcodec import checkpoint
from pixcodec.training.batches import CroppedItems, StepBatches, symmetry
from pixcodec.errors import PixcodecError
from pixcodec.training.run_config import TrainConfig, resolve
from pixcodec.training.train import _autocast, train

from conftest import tiny_hparams


def config(tiny_npz, **overrides) -> TrainConfig:
    base = dict(model="gated_pixelcnn", hparams=tiny_hparams("gated_pixelcnn"), data=f"cifar10-npz:{tiny_npz}",
                batch_size=4, lr=3e-3, eval_every=0, eval_images=4, save_every=0)
    return TrainConfig(**{**base, **overrides})


def test_loss_falls_on_a_tiny_dataset(tiny_npz, tmp_path):
    first = train(config(tiny_npz, steps=1), tmp_path / "a.pt", progress=False)
    later = train(config(tiny_npz, steps=80, lr=1e-2), tmp_path / "b.pt", progress=False)
    assert first["eval_bpd"] > 7.5
    assert later["eval_bpd"] < first["eval_bpd"] - 1.0, (first, later)


def test_checkpoint_loads_weights_only_and_records_the_run(tiny_npz, tmp_path):
    out = tmp_path / "m.pt"
    train(config(tiny_npz, steps=3), out, progress=False)
    state = torch.load(out, weights_only=True)
    assert state["model"] == "gated_pixelcnn" and state["step"] == 3 and state["in_channels"] == 3
    assert state["hparams"]["hidden"] == tiny_hparams("gated_pixelcnn")["hidden"]
    assert state["optimizer"]["state"] and state["data"]["train"]["images"] == 16
    assert state["config"]["lr"] == 3e-3
    model = checkpoint.load_model(out)
    assert model.hparams == state["hparams"]
    assert not list(tmp_path.glob(".*.tmp")), "atomic save left a temporary file"


def test_resume_reaches_the_same_state_as_an_uninterrupted_run(tiny_npz, tmp_path):
    """16 images, batch 4: 10 steps cross an epoch boundary, so the data order is resumed too."""
    train(config(tiny_npz, steps=10), tmp_path / "straight.pt", progress=False)
    train(config(tiny_npz, steps=5), tmp_path / "split.pt", progress=False)
    train(config(tiny_npz, steps=10), tmp_path / "split.pt", resume=True, progress=False)
    a, b = checkpoint.load(tmp_path / "straight.pt"), checkpoint.load(tmp_path / "split.pt")
    assert a["step"] == b["step"] == 10
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    for k, v in a["optimizer"]["state"].items():
        assert torch.equal(v["exp_avg_sq"], b["optimizer"]["state"][k]["exp_avg_sq"])


def test_symmetry_is_the_eight_element_group_of_the_square():
    img = torch.arange(2 * 4 * 4).reshape(2, 4, 4)
    images = [symmetry(img, k) for k in range(8)]
    assert len({tuple(x.flatten().tolist()) for x in images}) == 8
    assert torch.equal(images[0], img) and torch.equal(images[1], img.flip(2)) and torch.equal(images[4], img.mT)
    for x in images:                 # a symmetry moves pixels within their channel, never across
        assert [sorted(x[c].flatten().tolist()) for c in range(2)] == [list(range(16)), list(range(16, 32))]


def test_augmentation_keeps_the_crop_and_draws_every_symmetry_from_the_seed(tiny_npz):
    """--augment none must give exactly the crops runs got before augmentation existed, and
    dihedral one of the 8 symmetries of that same crop, decided by the seed alone."""
    from pixcodec.training.data import open_dataset
    data = open_dataset(f"cifar10-npz:{tiny_npz}")
    plain, turned, flipped = (CroppedItems(data, 5, a) for a in ("none", "dihedral", "flip"))
    seen, mirrors = set(), set()
    for seed in range(64):
        g = torch.Generator().manual_seed(seed)
        top, left = (int(torch.randint(0, 8 - 5 + 1, (), generator=g)) for _ in range(2))
        crop = plain[3, seed][0]
        assert torch.equal(crop, data[3][0][:, top:top + 5, left:left + 5])
        x = turned[3, seed][0]
        matches = [k for k in range(8) if torch.equal(x, symmetry(crop, k))]
        assert matches and torch.equal(turned[3, seed][0], x)
        seen.add(matches[0])
        mirrors.update(k for k in range(2) if torch.equal(flipped[3, seed][0], symmetry(crop, k)))
    assert seen == set(range(8)) and mirrors == {0, 1}
    with pytest.raises(PixcodecError, match="augmentation"):
        CroppedItems(data, 5, "rotate")


def test_dihedral_augmentation_refuses_uncropped_oblong_images(tmp_path):
    import numpy as np
    path = tmp_path / "oblong.npz"
    np.savez(path, x_train=np.zeros((8, 4, 6, 3), np.uint8), x_test=np.zeros((2, 4, 6, 3), np.uint8))
    with pytest.raises(PixcodecError, match="square"):
        train(TrainConfig(data=f"cifar10-npz:{path}", batch_size=4, steps=1, augment="dihedral"),
              tmp_path / "m.pt", progress=False)
    assert not (tmp_path / "m.pt").exists()


def test_init_starts_a_new_run_from_another_runs_weights(tiny_npz, tmp_path):
    trained = train(config(tiny_npz, steps=30, lr=1e-2), tmp_path / "a.pt", progress=False)
    train(config(tiny_npz, steps=2, lr=1e-12, init=str(tmp_path / "a.pt"), augment="dihedral"),
          tmp_path / "b.pt", progress=False)
    a, b = checkpoint.load(tmp_path / "a.pt"), checkpoint.load(tmp_path / "b.pt")
    assert b["step"] == 2 and len(b["optimizer"]["state"]) > 0
    for k in a["state_dict"]:
        assert torch.allclose(a["state_dict"][k], b["state_dict"][k], atol=1e-9), k
    import hashlib
    assert b["data"]["init"] == {"path": str(tmp_path / "a.pt"), "step": 30,
                                 "sha256": hashlib.sha256((tmp_path / "a.pt").read_bytes()).hexdigest()}
    fresh = train(config(tiny_npz, steps=2, lr=1e-12), tmp_path / "c.pt", progress=False)
    assert b["history"][-1]["eval_bpd"] == pytest.approx(trained["eval_bpd"], abs=1e-4)
    assert fresh["eval_bpd"] > trained["eval_bpd"] + 0.3, (fresh, trained)
    train(config(tiny_npz, steps=4, lr=1e-12, init=str(tmp_path / "a.pt"), augment="dihedral"),
          tmp_path / "b.pt", resume=True, progress=False)
    assert checkpoint.load(tmp_path / "b.pt")["data"]["init"] == b["data"]["init"]
    wider = {**config(tiny_npz).hparams, "hidden": config(tiny_npz).hparams["hidden"] + 4}
    with pytest.raises(PixcodecError, match="--init"):
        train(config(tiny_npz, steps=1, hparams=wider, init=str(tmp_path / "a.pt")), tmp_path / "d.pt",
              progress=False)


def test_precision_fp32_turns_autocast_and_tf32_off_on_cuda():
    """--precision fp32 trains on a GPU in the float32 the CPU uses; auto keeps bf16 autocast there.
    Built for a CUDA device without one: only the context and the backend flags are checked."""
    flags = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = [f.allow_tf32 for f in flags]
    try:
        for f in flags:
            f.allow_tf32 = True
        with _autocast("auto", torch.device("cpu"))():
            assert not torch.is_autocast_enabled("cpu")
        assert all(f.allow_tf32 for f in flags), "auto must leave the CUDA flags alone"
        context = _autocast("fp32", torch.device("cuda"))
        assert not any(f.allow_tf32 for f in flags)
        with context():
            assert not torch.is_autocast_enabled("cuda")
        with pytest.raises(PixcodecError, match="precision"):
            _autocast("fp16", torch.device("cpu"))
    finally:
        for f, value in zip(flags, saved):
            f.allow_tf32 = value


def test_step_batches_shard_each_global_batch_across_ranks():
    eligible = list(range(100, 120))
    whole = StepBatches(eligible, 8, seed=3, start=0, stop=5)
    ranks = [StepBatches(eligible, 8, seed=3, start=0, stop=5, rank=r, world=2) for r in range(2)]
    for step in range(5):
        a, b = ranks[0].indices(step), ranks[1].indices(step)
        assert len(a) == len(b) == 4 and not set(a) & set(b)
        assert a + b == whole.indices(step)
    # an epoch (2 steps of 8 from 20 images) never repeats an image
    assert len(set(whole.indices(0) + whole.indices(1))) == 16


def test_torchrun_two_gloo_processes_match_one_process(tiny_npz, tmp_path):
    """DDP averages the two shards' gradients: same steps as one process with the same global batch."""
    args = ["train", "--data", f"cifar10-npz:{tiny_npz}", "--batch-size", "4", "--steps", "3", "--lr", "3e-3",
            "--eval-every", "0", "--eval-images", "2", "--quiet"]
    for k, v in tiny_hparams("gated_pixelcnn").items():
        args += ["-H", f"{k}={v}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "pixcodec.cli", *args, "--out", str(tmp_path / "ddp.pt")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert ddp.stdout.count("held-out") == 1, "only rank 0 reports"
    single = subprocess.run([sys.executable, "-m", "pixcodec.cli", *args, "--out", str(tmp_path / "one.pt")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert single.returncode == 0, single.stderr[-3000:]
    a, b = checkpoint.load(tmp_path / "ddp.pt"), checkpoint.load(tmp_path / "one.pt")
    assert a["step"] == 3
    for k in a["state_dict"]:
        assert torch.allclose(a["state_dict"][k], b["state_dict"][k], atol=1e-4), k
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp.pt", "one.pt"]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    from pixcodec.images.atomic import atomic_write

    target = tmp_path / "keep.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]
    with atomic_write(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o044   # readable like any file


def test_the_library_decides_what_run_to_make(tiny_npz, tmp_path):
    """resolve() is what `pixcodec train` asks: --init's architecture unless given, a resume's saved
    configuration with only run-length options changed, and no silent overwrite."""
    source = tmp_path / "source.pt"
    train(config(tiny_npz, model="pixelcnn", hparams={"hidden": 6, "layers": 1, "out_hidden": 6}, steps=1), source,
          progress=False)
    options = {**dataclasses.asdict(config(tiny_npz)), "init": str(source)}
    fresh = resolve(options, {"init"}, tmp_path / "new.pt")
    assert fresh.model == "pixelcnn" and fresh.hparams["hidden"] == 6
    assert resolve(options, {"init", "model"}, tmp_path / "new.pt").model == options["model"]
    with pytest.raises(PixcodecError, match="exists"):
        resolve(options, set(), source)
    resumed = resolve({**options, "steps": 3}, {"steps"}, source, resume=True)
    assert resumed.model == "pixelcnn" and resumed.steps == 3 and resumed.init is None
    with pytest.raises(PixcodecError, match="whose lr"):
        resolve({**options, "lr": 0.5}, {"lr"}, source, resume=True)
