"""Shared fixtures: tiny model settings and tiny datasets made on the fly (no ../shared needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pixcodec import models

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

# Any registered model whose hyperparameters use these names gets a tiny version for free.
# Wide enough per R/G/B group that ReLUs rarely all die at a pixel and hide a dependency.
TINY = {"hidden": 24, "out_hidden": 48, "layers": 2}
# The PixelRNN models' unnormalised residual stream goes through the head's ReLU; at 8 features
# a group, all of a group's features at some pixel of the battery's images were negative.
TINY_WIDER = {"row_lstm": {"hidden": 48}, "diagonal_bilstm": {"hidden": 48}}


def tiny_hparams(name: str) -> dict:
    return {**{k: v for k, v in TINY.items() if k in models.hyperparameters(name)}, **TINY_WIDER.get(name, {})}


def tiny_model(name: str, channels: int, seed: int = 0, **extra) -> torch.nn.Module:
    torch.manual_seed(seed)
    return models.build(name, channels, **{**tiny_hparams(name), **extra}).eval()


def structured_images(n: int, channels: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus a little noise: easy to learn, unlike uniform noise. (N, H, W, C)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((n, h, w, channels), dtype=np.uint8)
    for i in range(n):
        base = (yy * rng.integers(5, 20) + xx * rng.integers(5, 20) + rng.integers(0, 256)) % 256
        for c in range(channels):
            out[i, :, :, c] = np.clip(base + 10 * c + rng.integers(-3, 4, (h, w)), 0, 255)
    return out


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x_train=structured_images(16, 3, 8, 8, seed=1), y_train=np.arange(16) % 10,
             x_test=structured_images(4, 3, 8, 8, seed=2), y_test=np.arange(4))
    return path


@pytest.fixture(params=models.names())
def model_name(request) -> str:
    return request.param
