"""Maximum-likelihood training: Adam on exact bits/dim, single process or DDP.

``train`` is three parts: ``setup`` builds the run (data, model, optimizer, a resumed
checkpoint's state), ``loss`` is one batch's objective, and the loop steps, evaluates and
saves. Batches are a pure function of (seed, step) (batches.py), so a run resumed from a
checkpoint at step s sees exactly the batches the uninterrupted run would have seen, and on
CPU reaches the same weights. Under ``torchrun`` only rank 0 writes. What run to make (new,
resumed, or from another's weights) is run_config.py's decision.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from .. import checkpoint, models
from .batches import CroppedItems, StepBatches, eligible_images
from .conditioning import ClassCondition
from .data import open_dataset
from .distributed import Distributed
from ..errors import PixcodecError
from .likelihood import LN2, evaluate
from .run_config import TrainConfig

DEFAULT_FOLDER_CROP = 64


@dataclass
class Run:
    """Everything a training run holds between steps."""
    config: TrainConfig
    out: str | Path
    dist: Distributed
    autocast: Callable[[], Any]
    model: torch.nn.Module
    net: torch.nn.Module                   # the model, wrapped for DDP under torchrun
    optimizer: torch.optim.Optimizer
    condition: ClassCondition | None
    loader: torch.utils.data.DataLoader
    batches: int                           # steps this session runs at most
    total: int                             # the run's steps in all (the schedule's length)
    eval_items: list
    description: dict[str, Any]
    step: int = 0
    seconds: float = 0.0
    history: list = dataclasses.field(default_factory=list)

    def save(self) -> None:
        if self.dist.is_main:
            checkpoint.save(self.out, self.model, optimizer=self.optimizer.state_dict(), step=self.step,
                            config=dataclasses.asdict(self.config), data=self.description,
                            history=self.history, seconds=self.seconds,
                            **({"condition": self.condition.record()} if self.condition else {}))

    def held_out(self, train_bpd: float, echo: Callable[[str], None]) -> dict[str, Any]:
        result = {"step": self.step, "train_bpd": train_bpd, "seconds": round(self.seconds, 1)}
        if self.dist.is_main and self.eval_items:
            found = evaluate(self.model, self.eval_items, self.config.batch_size, self.dist.device,
                             condition=self.condition)
            result["eval_bpd"] = found.bits_per_dim
            echo(f"step {self.step}: train {train_bpd:.4f} bits/dim, held-out {result['eval_bpd']:.4f} bits/dim"
                 f"{found.split} ({len(self.eval_items)} test images), {self.seconds / 60:.1f} min")
        self.dist.barrier()
        return result


def setup(config: TrainConfig, out: str | Path, resume: bool = False,
          echo: Callable[[str], None] = print) -> Run:
    """The run that writes ``out``: a resumed one when ``resume`` finds a checkpoint there."""
    models.check_hyperparameters(config.model, config.hparams)   # fail before loading any data
    if config.condition == "class" and "cond_channels" not in models.hyperparameters(config.model):
        raise PixcodecError(f"{config.model} takes no conditioning input: use gated_pixelcnn, row_lstm "
                            "or diagonal_bilstm")
    dist = Distributed.from_environment()
    autocast = _autocast(config.precision, dist.device)
    state = checkpoint.load(out) if resume and Path(out).exists() else None
    if resume and state is None and dist.is_main:
        echo(f"no checkpoint at {out} yet: starting a new run")

    train_set = open_dataset(config.data, config.data_dir, "train", config.channels, config.download, config.exclude)
    eval_set = open_dataset(config.data, config.data_dir, "test", train_set.channels, exclude=config.exclude)
    crop = config.crop if config.crop or not hasattr(train_set, "files") else DEFAULT_FOLDER_CROP
    eligible = eligible_images(train_set, crop)
    if config.augment == "dihedral" and crop is None and len(set(train_set.size(0))) > 1:
        raise PixcodecError("--augment dihedral turns images a quarter turn, so they must be square: set --crop")
    if config.batch_size % dist.world or config.batch_size < dist.world:
        raise PixcodecError(f"--batch-size {config.batch_size} must be a multiple of the {dist.world} processes")
    if len(eligible) < config.batch_size:
        raise PixcodecError(f"{len(eligible)} training images is fewer than --batch-size {config.batch_size}")
    per_epoch = len(eligible) // config.batch_size
    total = config.steps if config.steps is not None else math.ceil((config.epochs or 1) * per_epoch)

    condition = _condition(config, train_set, state)
    hparams = {**config.hparams, **({"cond_channels": len(condition)} if condition else {})}
    torch.manual_seed(config.seed)
    model = models.build(config.model, train_set.channels, **hparams)
    if config.free_bits and getattr(model, "latent", None) != "codes":
        raise PixcodecError("--free-bits needs an auto-encoder with a code latent (pixelcnn_ae, latent=codes)")
    if model.hparams.get("vector_norm", "none") != "none" and config.batch_size < 2 * dist.world:
        raise PixcodecError("vector_norm=batch standardizes over each process's batch: it needs 2 images or more")
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    step, seconds, history = 0, 0.0, []
    if state is not None:
        model.load_state_dict(state["state_dict"])
        step, seconds, history = state["step"], state.get("seconds", 0.0), list(state.get("history", []))
    elif config.init:
        init = _initial_weights(config.init, model, condition)
    model.to(dist.device)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])   # after .to(): Adam state follows the params

    sampler = StepBatches(eligible, config.batch_size, config.seed, step, max(step, total), dist.rank, dist.world)
    loader = torch.utils.data.DataLoader(CroppedItems(train_set, crop, config.augment), batch_sampler=sampler,
                                         num_workers=config.workers)
    eval_items = [eval_set[i] if condition else eval_set[i][0] for i in range(min(len(eval_set), config.eval_images))]
    description = {"train": {**train_set.description, "images": len(eligible), "crop": crop},
                   "eval": {**eval_set.description, "images": len(eval_items)}}
    if config.init:     # a resumed run keeps the record its first session wrote
        description["init"] = state["data"].get("init") if state is not None else init
    return Run(config, out, dist, autocast, model, dist.wrap(model), optimizer, condition, loader, len(sampler),
               total, eval_items, description, step, seconds, history)


def loss(run: Run, x: torch.Tensor, labels) -> tuple[torch.Tensor, float]:
    """(what the optimizer minimises, the true rate in bits per subpixel) for a batch x (b, C, H, W).

    Both are -ln p(x) per subpixel, except an auto-encoder's under --latent-warmup or --free-bits,
    whose loss charges bits(z) less while the rate reported stays the true bits(x | z) + bits(z)."""
    with run.autocast():
        if not run.model.autoregressive:
            bits_x, bits_z = run.net(x)                                    # bits(x | z), bits(z): (b,) each
            rate = (bits_x + bits_z).float().sum() * (LN2 / x.numel())   # nats per subpixel of x
            objective = (bits_x.float().sum() + latent_charge(run, x, bits_z)) * (LN2 / x.numel())
            return objective, rate.item() / LN2
        cond = run.condition.one_hot(labels).to(run.dist.device) if run.condition else None
        nats = run.net(x, cond, nats=True)                                 # (b, C, H, W)
    objective = nats.float().mean()                                        # nats per subpixel
    return objective, objective.item() / LN2


def train(config: TrainConfig, out: str | Path, resume: bool = False,
          echo: Callable[[str], None] = print, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) and write the checkpoint to ``out``; returns the last evaluation."""
    run = setup(config, out, resume, echo)
    window, window_n, started = 0.0, 0, time.monotonic() - run.seconds
    bar = _progress(run.batches, progress and run.dist.is_main, lambda: window / max(window_n, 1))
    run.net.train()
    with bar:
        for x, labels in run.loader:
            objective, bits = loss(run, x.to(run.dist.device, non_blocking=True), labels)
            run.optimizer.zero_grad(set_to_none=True)
            objective.backward()
            if config.grad_clip:
                for part in clipped_parts(run.model):
                    torch.nn.utils.clip_grad_norm_(part, config.grad_clip)
            for group in run.optimizer.param_groups:
                group["lr"] = learning_rate(config, run.step, run.total)
            run.optimizer.step()
            run.step += 1
            window, window_n = window + bits, window_n + 1
            run.seconds = time.monotonic() - started
            bar.update(1)
            if config.eval_every and run.step % config.eval_every == 0:
                run.history.append(run.held_out(window / window_n, echo))
                window, window_n = 0.0, 0
            if config.save_every and run.step % config.save_every == 0:
                run.save()
            if run.dist.agree(config.minutes is not None and run.seconds > config.minutes * 60):
                break
    if window_n or not run.history or run.history[-1]["step"] != run.step:
        run.history.append(run.held_out(window / max(window_n, 1) if window_n else float("nan"), echo))
    run.save()
    run.dist.close()
    return run.history[-1]


def _autocast(precision: str, device: torch.device) -> Callable[[], Any]:
    """The forward pass's numeric context. ``auto`` runs bf16 autocast on CUDA (fp32 on CPU);
    ``fp32`` keeps full float32 on CUDA too, TF32 off: a run begun on a CPU continues in the
    arithmetic it began in (bundled v5 did so on an H100)."""
    if precision not in ("auto", "fp32"):
        raise PixcodecError(f"unknown precision {precision!r} (auto or fp32)")
    if device.type != "cuda":
        return lambda: torch.autocast(device.type, enabled=False)
    if precision == "fp32":
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        return lambda: torch.autocast("cuda", enabled=False)
    return lambda: torch.autocast("cuda", torch.bfloat16)


def _initial_weights(path: str, model: torch.nn.Module, condition) -> dict[str, Any]:
    """Load another run's weights into ``model`` (same architecture) and describe where they came from.

    Only the weights come along: the new run has its own optimizer, schedule and step count."""
    state = checkpoint.load(path)
    found = (state["model"], state["in_channels"], dict(state["hparams"]))
    wanted = (model.registry_name, model.in_channels, dict(model.hparams))
    if found != wanted:
        raise PixcodecError(f"--init {path} holds {found[0]} with {found[1]} channels and {found[2]}, "
                            f"but this run builds {wanted[0]} with {wanted[1]} channels and {wanted[2]}")
    if condition is not None and ClassCondition.of_checkpoint(state) != condition:
        raise PixcodecError(f"--init {path} was trained with other classes")
    model.load_state_dict(checkpoint.build_model(state).state_dict())   # weights that do not fit: one clean line
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return {"path": str(path), "sha256": digest, "step": state.get("step")}


def _condition(config: TrainConfig, train_set, state) -> ClassCondition | None:
    if config.condition == "none":
        return None
    if config.condition != "class":
        raise PixcodecError(f"unknown condition {config.condition!r} (none or class)")
    condition = ClassCondition.of_dataset(train_set)
    if config.hparams.get("cond_channels", len(condition)) != len(condition):
        raise PixcodecError(f"cond_channels must be the {len(condition)} classes for --condition class")
    if state is not None and ClassCondition.of_checkpoint(state) != condition:
        raise PixcodecError("the checkpoint being resumed was trained with other classes")
    return condition


def clipped_parts(model: torch.nn.Module) -> list[list[torch.nn.Parameter]]:
    """The parameter groups whose gradient norms are clipped each on its own: a pixel model is
    one; an auto-encoder's encoder, decoder and prior are one each, because under one norm over
    all, an encoder whose gradient runs away scales the decoder's steps down to nothing."""
    if model.autoregressive:
        return [list(model.parameters())]
    parts = [list(child.parameters()) for child in model.children()] + [list(model.parameters(recurse=False))]
    return [part for part in parts if part]


def latent_charge(run: Run, x: torch.Tensor, bits_z: torch.Tensor) -> torch.Tensor:
    """What the loss charges for the batch's bits(z): weighted by (step + 1) / --latent-warmup
    until that reaches 1, and no less than --free-bits per latent value on the batch's average
    (Kingma et al. 2016), so the rate's pull stops while z carries less than that."""
    warmup = run.config.latent_warmup
    weight = min(1.0, (run.step + 1) / warmup) if warmup else 1.0
    charged = bits_z.float().sum()
    if run.config.free_bits:
        floor = run.config.free_bits * run.model.latent_values(x.shape[2], x.shape[3]) * x.shape[0]
        charged = torch.clamp(charged, min=floor)
    return weight * charged


def learning_rate(config: TrainConfig, step: int, total: int) -> float:
    """The rate for optimizer step ``step`` (0-based): a function of the step alone, so resumes match.

    ``cosine`` decays to zero over the run's ``total`` steps; short CPU runs end
    noticeably better when the rate comes down at the end."""
    if config.lr_schedule == "constant":
        return config.lr
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))
    raise PixcodecError(f"unknown learning-rate schedule {config.lr_schedule!r}")


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        pass


def _progress(length: int, show: bool, bits: Callable[[], float]):
    if not show:
        return _NoBar()
    import sys

    import click
    return click.progressbar(length=length, label="training", file=sys.stderr,
                             item_show_func=lambda _: f"{bits():.3f} bits/dim", show_pos=True)
