"""Shared fixtures: tiny model settings and tiny datasets made on the fly (no ../shared needed)."""
from __future__ import annotations

import os
from pathlib import Path

# One torch thread everywhere, subprocesses and workers included: a test run cannot oversubscribe
# the cores, so a busy machine slows it in proportion instead of stalling every OpenMP barrier.
os.environ.setdefault("PIXCODEC_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from pixcodec import models  # noqa: E402

torch.set_num_threads(1)

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


def fuzz(decode, data: bytes, original: torch.Tensor, trials: int, seed: int, truncate_every: int = 0,
         max_flips: int = 1) -> int:
    """Decode ``trials`` damaged copies of ``data`` (a truncation every ``truncate_every``-th trial,
    else 1 to ``max_flips`` bit flips): each must give ``original`` exactly or raise
    PixcodecError, never another image. Returns how many were refused."""
    import random

    from pixcodec.errors import PixcodecError
    rng, refused = random.Random(seed), 0
    for trial in range(trials):
        damaged = bytearray(data)
        if truncate_every and trial % truncate_every == 0:
            damaged = damaged[:rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, max_flips) if max_flips > 1 else 1):
                damaged[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        try:
            out = decode(bytes(damaged))
        except PixcodecError:
            refused += 1
            continue
        assert torch.equal(out, original), f"trial {trial}: a damaged file decoded to a different image"
    return refused


def rewritten_header(data: bytes, edit, size: int) -> bytes:
    """The file with its header (``size`` bytes) edited in place by ``edit(body)`` and its
    checksum made right again: a forgery that passes the CRC."""
    import struct
    import zlib
    body = bytearray(data[:size - 4])
    edit(body)
    return bytes(body) + struct.pack("<I", zlib.crc32(body)) + data[size:]


def header_lies(data: bytes, size: int, trials: int, seed: int, first: int = 4):
    """``trials`` copies of a file whose header (``size`` bytes) has 1 to 3 bytes from ``first`` on
    rewritten, its checksum made right again: the forgeries an attacker starts from."""
    import random
    import struct
    import zlib
    rng = random.Random(seed)
    for _ in range(trials):
        body = bytearray(data[:size - 4])
        for _ in range(rng.randint(1, 3)):
            body[rng.randrange(first, len(body))] = rng.randrange(256)
        yield bytes(body) + struct.pack("<I", zlib.crc32(body)) + data[size:]
