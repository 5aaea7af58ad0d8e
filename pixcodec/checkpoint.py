"""Checkpoints: plain dicts of tensors and primitives, loadable with ``weights_only=True``.

Layout (version 1)::

    format: "pixcodec-checkpoint"   version: 1
    model: registry name            in_channels: 1 | 3        hparams: {name: value}
    state_dict: model weights       optimizer: Adam state     step: optimizer steps taken
    config: the training configuration (a dict)               data: dataset descriptions
    history: [{step, train_bpd, eval_bpd, seconds}, ...]      seconds: training wall time
    condition: {kind: "class", classes: [names]}              class-conditional models only
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from . import models
from .images.atomic import atomic_write
from .errors import PixcodecError

FORMAT, VERSION = "pixcodec-checkpoint", 1
# A checkpoint may come from anyone: its architecture is sized before anything is allocated.
MAX_PARAMETERS = 50_000_000
MAX_HPARAM = 1 << 14            # no hyperparameter count (width, depth, levels) beyond this
# The fields a checkpoint may carry, and the type each must have where present.
FIELD_TYPES = {"model": str, "in_channels": int, "hparams": dict, "state_dict": dict, "optimizer": dict,
               "step": int, "config": dict, "data": dict, "history": list, "seconds": (int, float),
               "condition": dict}
REQUIRED = ("model", "in_channels", "hparams", "state_dict")


def save(path: str | Path, model: nn.Module, **fields: Any) -> None:
    """Write atomically: a crash mid-save leaves the previous checkpoint intact."""
    path = Path(path)
    state = {"format": FORMAT, "version": VERSION, "model": model.registry_name,
             "in_channels": model.in_channels, "hparams": dict(model.hparams),
             "state_dict": model.state_dict(), **fields}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        torch.save(state, f)


def load(path: str | Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise PixcodecError(f"no such checkpoint: {path}") from None
    except IsADirectoryError:
        raise PixcodecError(f"{path} is a directory, not a checkpoint") from None
    except Exception as e:  # torch raises many types for truncated or foreign files
        raise PixcodecError(f"{path} is not a readable pixcodec checkpoint ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise PixcodecError(f"{path} is not a pixcodec checkpoint")
    if state.get("version") != VERSION:
        raise PixcodecError(f"{path} has checkpoint version {state.get('version')}; "
                            f"this pixcodec reads version {VERSION}")
    check_fields(state, path)
    return state


def check_fields(state: dict[str, Any], path: str | Path = "checkpoint") -> None:
    """Every field a checkpoint carries has its type, and the model's hyperparameters theirs."""
    for name in REQUIRED:
        if name not in state:
            raise PixcodecError(f"{path}: the checkpoint has no {name!r} field")
    for name, kind in FIELD_TYPES.items():
        if name in state and (not isinstance(state[name], kind) or isinstance(state[name], bool)):
            raise PixcodecError(f"{path}: checkpoint field {name!r} is {type(state[name]).__name__}, "
                                f"not {getattr(kind, '__name__', 'a number')}")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state["state_dict"].items()):
        raise PixcodecError(f"{path}: checkpoint field 'state_dict' must map names to tensors")
    if state["model"] not in models.all_names():
        raise PixcodecError(f"{path}: unknown model {state['model']!r}")
    defaults = models.hyperparameters(state["model"])
    for key, value in state["hparams"].items():
        if key not in defaults:
            continue                    # build() names unknown hyperparameters
        default = defaults[key]
        expected = bool if isinstance(default, bool) else int if isinstance(default, int) else type(default)
        ok = isinstance(value, expected) and (expected is bool or not isinstance(value, bool))
        if not ok:
            raise PixcodecError(f"{path}: hyperparameter {key}={value!r} of {state['model']} must be "
                                f"{expected.__name__}")
        if expected in (int, float) and not -MAX_HPARAM <= value <= MAX_HPARAM:
            raise PixcodecError(f"{path}: hyperparameter {key}={value!r} of {state['model']} is out of range")


def build_model(state: dict[str, Any], pinned: bool = False) -> nn.Module:
    """The checkpoint's model (fields checked by ``load``), weights loaded, in eval mode. Its size
    is checked first, on a meta device that allocates nothing, unless the file is ``pinned``:
    its bytes are a bundled model's, by digest, whose size a test checks (the meta device's
    first arithmetic imports most of torch's compiler, about 1 s)."""
    if not pinned:
        with torch.device("meta"):
            shape = models.build(state["model"], state["in_channels"], **state["hparams"])
        count = sum(p.numel() for p in shape.parameters())
        if count > MAX_PARAMETERS:
            raise PixcodecError(f"the checkpoint's {state['model']} has {count:,} parameters, more than the "
                                f"{MAX_PARAMETERS:,} pixcodec loads")
    model = models.build(state["model"], state["in_channels"], **state["hparams"])
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as e:
        raise PixcodecError(f"checkpoint weights do not fit {state['model']}: {str(e).splitlines()[0]}") from None
    return model.eval()


def load_model(path: str | Path, pinned: bool = False) -> nn.Module:
    """pinned: the caller checked the file's digest against a bundled model's (``build_model``)."""
    return build_model(load(path), pinned)


def export(source: str | Path, target: str | Path, force: bool = False) -> dict[str, Any]:
    """A shippable copy of a checkpoint: weights, architecture and provenance, no optimizer state.
    An existing ``target`` is replaced only with ``force``."""
    state = load(source)
    build_model(state)                      # refuse to ship weights that do not load
    kept = {k: v for k, v in state.items() if k != "optimizer"}
    try:
        with atomic_write(Path(target), exclusive=not force) as f:
            torch.save(kept, f)
    except FileExistsError:
        raise PixcodecError(f"{target} exists (use --force to overwrite)") from None
    return kept
