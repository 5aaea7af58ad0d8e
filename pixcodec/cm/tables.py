"""The logistic functions of the context-mixing stage, as integer tables built by integer rules.

Probabilities are 12-bit (1 to 4095 for one binary decision); the stretched domain
ln(p / (1 - p)) is scaled by 256 and kept in [-2047, 2047]. ``squash`` interpolates 33 knots,
each 4096 / (1 + e^(-k / 2)) rounded, computed in ``decimal`` at 40 digits: a correctly rounded
result, unlike a platform's ``exp``, so every machine builds the same table. ``stretch`` is
squash's inverse by scan. The tables are therefore the same bytes everywhere; a test pins
their digest.
"""
from __future__ import annotations

import decimal
import hashlib

import numpy as np

ST_MAX = 2047           # |stretch| bound


def _knots() -> list[int]:
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        return [int((decimal.Decimal(4096) / (1 + (decimal.Decimal(16 - i) / 2).exp()))
                    .to_integral_value(decimal.ROUND_HALF_EVEN)) for i in range(33)]


def build() -> tuple[np.ndarray, np.ndarray]:
    """(squash, stretch): squash[d + 2048] for d in [-2048, 2047], 1 to 4095; stretch[p] for p in
    [0, 4095]: below 2048 the least d whose squash reaches p, 0 at 2048, and odd about it."""
    knots = _knots()
    squash = np.empty(4096, np.int32)
    for d in range(-2048, 2048):
        i, w = (d >> 7) + 16, d & 127
        squash[d + 2048] = min(4095, max(1, (knots[i] * (128 - w) + knots[i + 1] * w + 64) >> 7))
    stretch = np.zeros(4096, np.int32)
    p = 0
    for d in range(-ST_MAX, 1):
        while p < 2048 and p <= squash[d + 2048]:
            stretch[p] = d
            p += 1
    stretch[2049:] = -stretch[1:2048][::-1]                  # odd about p = 2048, as ln(p / (1 - p))
    return squash, stretch


SQUASH, STRETCH = build()


def digest() -> str:
    return hashlib.sha256(SQUASH.tobytes() + STRETCH.tobytes()).hexdigest()
