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
from .atomic import atomic_write
from .errors import PixcodecError

FORMAT, VERSION = "pixcodec-checkpoint", 1


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
    return state


def build_model(state: dict[str, Any]) -> nn.Module:
    """The checkpoint's model, weights loaded, in eval mode."""
    model = models.build(state["model"], state["in_channels"], **state["hparams"])
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as e:
        raise PixcodecError(f"checkpoint weights do not fit {state['model']}: {str(e).splitlines()[0]}") from None
    return model.eval()


def load_model(path: str | Path) -> nn.Module:
    return build_model(load(path))


def export(source: str | Path, target: str | Path) -> dict[str, Any]:
    """A shippable copy of a checkpoint: weights, architecture and provenance, no optimizer state."""
    state = load(source)
    build_model(state)                      # refuse to ship weights that do not load
    kept = {k: v for k, v in state.items() if k != "optimizer"}
    with atomic_write(Path(target)) as f:
        torch.save(kept, f)
    return kept
