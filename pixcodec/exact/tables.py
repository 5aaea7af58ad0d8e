"""The exact arithmetic's lookup tables (tanh, sigmoid, exp, the input map) and the grids they are on.

Every platform must build the same tables, tie-breaks included, so they are defined by an
integer recurrence from one correctly rounded constant each (``build``). Building them takes
about 0.12 s of every command, so the package ships them (``tables/exact_tables.npz``), and a
process loads that file only when its digest is the one below; otherwise it builds them. A test
checks that the shipped file equals what ``build`` makes.

    python -m pixcodec.exact.tables     # rewrites the shipped file from build()
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

ACT_BITS = 12          # activations on the grid 2^-12
SQUASH_RANGE = 8       # tanh / sigmoid tables cover [-8, 8]; beyond, they are saturated
EXP_RANGE = 32         # probabilities below e^-32 of the mode are clamped up to it
EXP_BITS = 40          # exp table values are integers up to 2^40
_FRAC = 96             # fixed-point bits of the exact integer recurrence behind every table

SHIPPED = Path(__file__).parents[1] / "tables" / "exact_tables.npz"   # package data: pixcodec/tables/
# sha256 of the tables' float64 bytes in name order (what a model id hashes of them)
DIGEST = "90a2bd4052bb735fd0d0c98e51b42d4ae54308b2326824946c58eeb5ce4d9834"

ON_GRID = ("tanh", "sigmoid", "input")     # held in activation-grid steps; exp holds integers
_TABLES: dict[str, torch.Tensor] = {}


def exact_tables() -> dict[str, torch.Tensor]:
    """The tables, name -> float64 tensor, made once per process: shipped, or else built."""
    if not _TABLES:
        _TABLES.update(_shipped() or build())
    return _TABLES


def digest(tables: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tables):
        h.update(tables[name].numpy().tobytes())
    return h.hexdigest()


def _shipped() -> dict[str, torch.Tensor] | None:
    """The shipped tables, or None where the file is missing, unreadable or not the one expected."""
    try:
        with np.load(SHIPPED) as stored:
            # stored as integers; the division by a power of two is exact
            tables = {name: torch.from_numpy(stored[name].astype(np.float64)) / (1 << ACT_BITS if name in ON_GRID else 1)
                      for name in stored.files}
    except (OSError, ValueError, KeyError):
        return None
    return tables if digest(tables) == DIGEST else None


def _exp_ladder(n: int, step: int) -> list[int]:
    """exp(-k * step / 2^ACT_BITS) * 2^_FRAC for k = 0..n, by an integer recurrence.

    The one non-integer input is exp(-step / 2^ACT_BITS), which Python's decimal
    module rounds correctly; everything after is integer arithmetic, so every
    platform builds the same ladder, tie-breaks included.
    """
    import decimal

    with decimal.localcontext() as ctx:
        ctx.prec = 60
        ratio = int((decimal.Decimal(-step) / (1 << ACT_BITS)).exp() * (1 << _FRAC))
    ladder = [1 << _FRAC]
    for _ in range(n):
        ladder.append((ladder[-1] * ratio) >> _FRAC)
    return ladder


def _ratio_on_grid(num: int, den: int) -> int:
    """round(2^ACT_BITS * num / den), halves up, in integers."""
    return (2 * (num << ACT_BITS) + den) // (2 * den)


def build() -> dict[str, torch.Tensor]:
    """The tables, in integer arithmetic (see _exp_ladder): the definition the shipped file copies."""
    scale, one = 1 << ACT_BITS, 1 << _FRAC
    n = SQUASH_RANGE * scale
    e1 = _exp_ladder(max(EXP_RANGE * scale, n), 1)           # exp(-k / 4096)
    e2 = _exp_ladder(n, 2)                                    # exp(-2k / 4096)
    tanh_pos = [_ratio_on_grid(one - e, one + e) for e in e2]                 # tanh(k / 4096)
    sig_pos = [_ratio_on_grid(one, one + e) for e in e1[:n + 1]]              # sigmoid(k / 4096)
    sig_neg = [_ratio_on_grid(e, one + e) for e in e1[:n + 1]]                # sigmoid(-k / 4096)
    as_grid = lambda values: torch.tensor(values, dtype=torch.float64) / scale  # noqa: E731
    shift = _FRAC - EXP_BITS
    return {"tanh": as_grid([-t for t in reversed(tanh_pos[1:])] + tanh_pos),
            "sigmoid": as_grid(list(reversed(sig_neg[1:])) + sig_pos),
            "exp": torch.tensor([max(1, (e + (1 << (shift - 1))) >> shift) for e in e1[:EXP_RANGE * scale + 1]],
                                dtype=torch.float64),
            # (2x - 255) / 255 on the activation grid; never a tie, as 8192 (2x - 255) is even and 255 odd
            "input": as_grid([_ratio_on_grid(2 * x - 255, 255) if x >= 128 else -_ratio_on_grid(255 - 2 * x, 255)
                              for x in range(256)])}


def write_shipped(path: Path = SHIPPED) -> str:
    """Write ``build()``'s tables as the shipped file; their digest (for DIGEST)."""
    tables = build()
    grid = {name: (t * (1 << ACT_BITS if name in ON_GRID else 1)).numpy().astype(np.int64) for name, t in tables.items()}
    path.parent.mkdir(exist_ok=True)
    with open(path, "wb") as f:
        np.savez_compressed(f, **grid)
    return digest(tables)


if __name__ == "__main__":
    print(write_shipped())
