"""What a training run is: its configuration, and whether it starts fresh, resumes, or starts
from another run's weights. Decided here once, for the CLI and the library alike.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import checkpoint
from ..errors import PixcodecError

# What defines a run: a resume refuses to change these.
RUN_DEFINING = ("model", "hparams", "data", "exclude", "channels", "crop", "batch_size", "lr", "lr_schedule", "seed",
                "condition", "augment", "init")


@dataclass
class TrainConfig:
    model: str = "gated_pixelcnn"
    hparams: dict[str, Any] = field(default_factory=dict)
    data: str = "mnist"
    data_dir: str = "data"
    download: bool = False
    channels: int | None = None
    crop: int | None = None
    steps: int | None = None
    epochs: float | None = None
    batch_size: int = 32
    lr: float = 1e-3
    lr_schedule: str = "constant"
    grad_clip: float = 1.0
    seed: int = 0
    eval_every: int = 500
    eval_images: int = 1000
    save_every: int = 500
    minutes: float | None = None
    workers: int = 0
    condition: str = "none"          # or "class": a class-conditional model, h = one-hot label
    latent_warmup: int = 0           # auto-encoders: steps over which bits(z)'s weight rises 0 -> 1
    free_bits: float = 0.0           # auto-encoders: bits(z) per latent value the loss does not charge
    exclude: list[str] = field(default_factory=list)   # glob patterns of folder images never used
    precision: str = "auto"          # or "fp32": no bf16 autocast and no TF32 on CUDA
    augment: str = "none"            # or "flip", "dihedral": random symmetries of each crop
    init: str | None = None          # a checkpoint whose weights a new run starts from


def resolve(options: dict[str, Any], given: set[str], out: str | Path, resume: bool = False,
            force: bool = False) -> TrainConfig:
    """The configuration of the run that writes ``out``. options: every TrainConfig field (a
    caller's defaults included); given: the names the user set explicitly.

    - ``resume`` with a checkpoint at ``out``: the saved configuration, with only run-length
      and logging options taken from ``given`` (a run-defining change is refused);
    - ``init``: a new run from that checkpoint's weights, whose model and hyperparameters it
      takes unless ``given`` names them (``resume`` with nothing at ``out`` yet is such a run);
    - else a new run, which refuses to replace an existing ``out`` without ``force``."""
    if resume and Path(out).exists():
        return _resumed(checkpoint.load(out), options, given)
    if Path(out).exists() and not force:
        raise PixcodecError(f"{out} exists: pass --resume to continue it or --force to start over")
    options = dict(options)
    if options.get("init"):
        state = checkpoint.load(options["init"])
        if "model" not in given:
            options["model"] = state["model"]
        if "hparams" not in given:       # cond_channels is the run's own business
            options["hparams"] = {k: v for k, v in state["hparams"].items() if k != "cond_channels"}
    return TrainConfig(**options)


def _resumed(state: dict, options: dict[str, Any], given: set[str]) -> TrainConfig:
    """The saved configuration, with only run-length and logging options taken from ``given``."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    saved = TrainConfig(**{k: v for k, v in state["config"].items() if k in known})
    updates = {}
    for name in sorted(given & known, key=[f.name for f in dataclasses.fields(TrainConfig)].index):
        value = options[name]
        if name in RUN_DEFINING and value != getattr(saved, name):
            raise PixcodecError(f"--resume continues the saved run, whose {name} is "
                                f"{getattr(saved, name)!r}, not {value!r}")
        updates[name] = value
    if "steps" in updates:
        updates.setdefault("epochs", None)
    if "epochs" in updates:
        updates.setdefault("steps", None)
    return dataclasses.replace(saved, **updates)
