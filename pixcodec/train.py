"""Maximum-likelihood training: Adam on exact bits/dim, single process or DDP.

Batches are a pure function of (seed, step): each epoch is a seeded
permutation, each crop a seeded offset. A run resumed from a checkpoint at
step s therefore sees exactly the batches the uninterrupted run would have
seen, and on CPU reaches the same weights. Under ``torchrun`` every rank takes
its slice of each global batch (the data is sharded) and only rank 0 writes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import torch

from . import checkpoint, models
from .conditioning import ClassCondition
from .data import open_dataset
from .distributed import Distributed
from .errors import PixcodecError
from .likelihood import LN2, evaluate

DEFAULT_FOLDER_CROP = 64


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
    exclude: list[str] = field(default_factory=list)   # glob patterns of folder images never used
    precision: str = "auto"          # or "fp32": no bf16 autocast and no TF32 on CUDA
    augment: str = "none"            # or "flip", "dihedral": random symmetries of each crop
    init: str | None = None          # a checkpoint whose weights a new run starts from


AUGMENTS = {"none": 1, "flip": 2, "dihedral": 8}    # how many symmetries each draws from


class CroppedItems(torch.utils.data.Dataset):
    """Indexed by (image index, crop seed): the crop and its symmetry are decided by the seed alone.

    The symmetry is drawn after the crop offsets, so ``augment="none"`` sees exactly the
    crops that runs made before augmentation existed. Symmetry k of the dihedral group:
    bit 0 mirrors left-right, bit 1 top-bottom, bit 2 transposes (crops are square).
    """

    def __init__(self, dataset, crop: int | None, augment: str = "none"):
        if augment not in AUGMENTS:
            raise PixcodecError(f"unknown augmentation {augment!r} (none, flip or dihedral)")
        self.dataset, self.crop, self.symmetries = dataset, crop, AUGMENTS[augment]

    def __getitem__(self, item):
        index, crop_seed = item
        img, label = self.dataset[index]
        g = torch.Generator().manual_seed(crop_seed)
        if self.crop is not None:
            top = int(torch.randint(0, img.shape[1] - self.crop + 1, (), generator=g))
            left = int(torch.randint(0, img.shape[2] - self.crop + 1, (), generator=g))
            img = img[:, top:top + self.crop, left:left + self.crop]
        if self.symmetries > 1:
            img = symmetry(img, int(torch.randint(0, self.symmetries, (), generator=g)))
        return img, label


def symmetry(img: torch.Tensor, k: int) -> torch.Tensor:
    """Element k (0..7) of the square's symmetry group applied to a (C, H, W) image."""
    if k & 4:
        img = img.transpose(1, 2)
    dims = [d for bit, d in ((1, 2), (2, 1)) if k & bit]
    return (img.flip(dims) if dims else img).contiguous()


class StepBatches(torch.utils.data.Sampler):
    """Yields this rank's share of each global batch, for steps [start, stop)."""

    def __init__(self, eligible: list[int], global_batch: int, seed: int, start: int, stop: int,
                 rank: int = 0, world: int = 1):
        self.eligible, self.global_batch, self.seed = eligible, global_batch, seed
        self.start, self.stop, self.rank, self.world = start, stop, rank, world
        self.per_epoch = len(eligible) // global_batch

    @lru_cache(maxsize=2)
    def _permutation(self, epoch: int) -> torch.Tensor:
        return torch.randperm(len(self.eligible), generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch))

    def indices(self, step: int) -> list[int]:
        epoch, k = divmod(step, self.per_epoch)
        batch = self._permutation(epoch)[k * self.global_batch:(k + 1) * self.global_batch]
        local = self.global_batch // self.world
        return [self.eligible[i] for i in batch[self.rank * local:(self.rank + 1) * local].tolist()]

    def __iter__(self):
        for step in range(self.start, self.stop):
            yield [(i, hash((self.seed, step, i)) & 0x7FFFFFFF) for i in self.indices(step)]

    def __len__(self):
        return self.stop - self.start


def train(config: TrainConfig, out: str | Path, resume: bool = False,
          echo: Callable[[str], None] = print, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) and write the checkpoint to ``out``; returns the last evaluation."""
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
    eligible = _eligible(train_set, crop)
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
    two_part = not model.autoregressive
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
    net = dist.wrap(model)

    sampler = StepBatches(eligible, config.batch_size, config.seed, step, max(step, total), dist.rank, dist.world)
    loader = torch.utils.data.DataLoader(CroppedItems(train_set, crop, config.augment), batch_sampler=sampler,
                                         num_workers=config.workers)
    eval_items = [eval_set[i] if condition else eval_set[i][0] for i in range(min(len(eval_set), config.eval_images))]
    description = {"train": {**train_set.description, "images": len(eligible), "crop": crop},
                   "eval": {**eval_set.description, "images": len(eval_items)}}
    if config.init:     # a resumed run keeps the record its first session wrote
        description["init"] = state["data"].get("init") if state is not None else init

    def save():
        if dist.is_main:
            checkpoint.save(out, model, optimizer=optimizer.state_dict(), step=step,
                            config=dataclasses.asdict(config), data=description,
                            history=history, seconds=seconds,
                            **({"condition": condition.record()} if condition else {}))

    def held_out(train_bpd: float) -> dict[str, Any]:
        result = {"step": step, "train_bpd": train_bpd, "seconds": round(seconds, 1)}
        if dist.is_main and eval_items:
            found = evaluate(model, eval_items, config.batch_size, dist.device, condition=condition)
            result["eval_bpd"] = found.bits_per_dim
            echo(f"step {step}: train {train_bpd:.4f} bits/dim, held-out {result['eval_bpd']:.4f} bits/dim{found.split} "
                 f"({len(eval_items)} test images), {seconds / 60:.1f} min")
        dist.barrier()
        return result

    window, window_n, started = 0.0, 0, time.monotonic() - seconds
    bar = _progress(len(sampler), progress and dist.is_main, lambda: window / max(window_n, 1))
    net.train()
    with bar:
        for x, labels in loader:
            x = x.to(dist.device, non_blocking=True)                       # (b, C, H, W) uint8
            with autocast():
                if two_part:
                    bits_x, bits_z = net(x)                                # bits(x | z), bits(z): (b,) each
                    weight = min(1.0, (step + 1) / config.latent_warmup) if config.latent_warmup else 1.0
                    rate = (bits_x + bits_z).float().sum() * (LN2 / x.numel())   # nats per subpixel of x
                    loss = (bits_x + weight * bits_z).float().sum() * (LN2 / x.numel())
                else:
                    cond = condition.one_hot(labels).to(dist.device) if condition else None
                    nats = net(x, cond, nats=True)                         # (b, C, H, W)
            if not two_part:
                loss = nats.float().mean()                                 # nats per subpixel
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step, total)
            optimizer.step()
            step += 1
            window, window_n = window + (rate if two_part else loss).item() / LN2, window_n + 1
            seconds = time.monotonic() - started
            bar.update(1)
            if config.eval_every and step % config.eval_every == 0:
                history.append(held_out(window / window_n))
                window, window_n = 0.0, 0
            if config.save_every and step % config.save_every == 0:
                save()
            if dist.agree(config.minutes is not None and seconds > config.minutes * 60):
                break
    if window_n or not history or history[-1]["step"] != step:
        history.append(held_out(window / max(window_n, 1) if window_n else float("nan")))
    save()
    dist.close()
    return history[-1]


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


def learning_rate(config: TrainConfig, step: int, total: int) -> float:
    """The rate for optimizer step ``step`` (0-based): a function of the step alone, so resumes match.

    ``cosine`` decays to zero over the run's ``total`` steps; short CPU runs end
    noticeably better when the rate comes down at the end."""
    if config.lr_schedule == "constant":
        return config.lr
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))
    raise PixcodecError(f"unknown learning-rate schedule {config.lr_schedule!r}")


def _eligible(dataset, crop: int | None) -> list[int]:
    if crop is None:
        return list(range(len(dataset)))
    keep = [i for i in range(len(dataset)) if min(dataset.size(i)) >= crop]
    if not keep:
        raise PixcodecError(f"no training image is at least {crop}x{crop}; use a smaller --crop")
    return keep


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
