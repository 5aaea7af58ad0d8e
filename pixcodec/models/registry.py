"""The model registry: one name, one architecture, forever.

Names are part of checkpoints (and later of coded files), so a name can never
be registered twice and never change meaning. The CLI's ``--model`` choices and
the test battery are both read from here.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import torch.nn as nn

from ..errors import PixcodecError

_REGISTRY: dict[str, type[nn.Module]] = {}


class PixelModel(nn.Module):
    """The base of every registered model: it records what it was built from, its channels and
    every hyperparameter, so a checkpoint and a model id name it fully however it was built."""

    def __init__(self, in_channels: int, hparams: dict[str, Any]):
        super().__init__()
        self.in_channels = in_channels
        self.hparams = dict(hparams)


def register(name: str, autoregressive: bool = True) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator adding a model under ``name``; duplicates are refused.

    autoregressive=False marks a composite (the auto-encoder) that does not keep the pixel
    models' forward contract; it shares the namespace but not the pixel-model test battery."""

    def add(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered to {_REGISTRY[name].__qualname__}")
        cls.registry_name = name
        cls.autoregressive = autoregressive
        _REGISTRY[name] = cls
        return cls

    return add


def names() -> list[str]:
    """The autoregressive pixel models: the forward contract of ``models/__init__.py``."""
    return sorted(n for n, cls in _REGISTRY.items() if cls.autoregressive)


def all_names() -> list[str]:
    """Every registered model, composites included (what ``train --model`` accepts)."""
    return sorted(_REGISTRY)


def hyperparameters(name: str) -> dict[str, Any]:
    """The tunable keyword arguments of a model, with their defaults."""
    params = inspect.signature(_lookup(name).__init__).parameters
    return {k: p.default for k, p in params.items() if k not in ("self", "in_channels")}


def check_hyperparameters(name: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """All of a model's hyperparameters, defaults filled in; unknown names refused."""
    known = hyperparameters(name)
    unknown = sorted(set(hparams) - set(known))
    if unknown:
        raise PixcodecError(f"{name} has no hyperparameter {', '.join(unknown)} "
                            f"(it takes: {', '.join(known) or 'none'})")
    return {**known, **hparams}


def build(name: str, in_channels: int, **hparams: Any) -> nn.Module:
    """Build a registered model; its ``hparams`` record every resolved value."""
    cls = _lookup(name)
    if in_channels not in (1, 3):
        raise PixcodecError(f"models take 1 (gray) or 3 (RGB) channels, not {in_channels}")
    resolved = check_hyperparameters(name, hparams)
    try:
        model = cls(in_channels=in_channels, **resolved)
    except ValueError as e:
        raise PixcodecError(f"bad hyperparameters for {name}: {e}") from None
    if model.hparams != resolved:      # a model that forgets an argument could not be rebuilt
        raise AssertionError(f"{name} records hyperparameters {model.hparams}, built from {resolved}")
    return model


def _lookup(name: str) -> type[nn.Module]:
    if name not in _REGISTRY:
        raise PixcodecError(f"unknown model {name!r} (registered: {', '.join(names())})")
    return _REGISTRY[name]
