"""Compiled loops for the exact arithmetic's elementwise steps on a decoder's hot path: the
predictive head's logits and the integer weights of any logits, one pass over each (N, 256)
block instead of a dozen torch ops; and in the trunk, a layer's floor and clamp, and a residual
block's finish, add, clamp and ReLU, one pass each.

They repeat ``ExactNumerics``' operations in its order, each an exact float64 operation (no
fast-math), so they return the same bits as the torch code they stand in for; the tests
compare the two on random and extreme inputs. The torch code stays the reference and serves
whatever these do not take: other dtypes, devices, and blocks too small to pay for a call.
numba is imported on the first block that is large enough, so commands that never meet one do
not load it.
"""
from __future__ import annotations

import math

import numpy as np
import torch

MIN_ELEMENTS = 1 << 14        # below this, torch's ops are as quick as a call into numba

_kernels = None


def _compiled():
    global _kernels
    if _kernels is None:
        import numba

        jit = numba.njit(cache=True, nogil=True)

        @jit
        def laplace_logits(values, mu, sharpness, scale, limit, out):
            # logit[n, k] = -clamp(floor(s |v(k) - mu| scale) / scale): num.mul then neg_
            for n in range(out.shape[0]):
                m, s = mu[n], sharpness[n]
                for k in range(out.shape[1]):
                    p = math.floor(s * abs(values[k] - m) * scale) / scale
                    out[n, k] = -min(max(p, -limit), limit)

        @jit
        def weights(logits, factor, cap, table, out):
            # d = (max - logit) * factor[n], floored, capped, then exp from the table
            for n in range(logits.shape[0]):
                row, f = logits[n], factor[n]
                top = row[0]
                for k in range(1, row.shape[0]):
                    top = max(top, row[k])
                for k in range(row.shape[0]):
                    d = min(math.floor((top - row[k]) * f), cap)
                    out[n, k] = table[np.int32(d)]

        @jit
        def finish(acc, out, lo, hi):
            # a conv sum in grid steps onto the grid, clamped (ReLU: lo = 0); acc may broadcast
            wide = acc.shape[1] != 1
            for r in range(out.shape[0]):
                for c in range(out.shape[1]):
                    out[r, c] = min(max(math.floor(acc[r, c if wide else 0]), lo), hi)

        @jit
        def residual(acc, h, out, rectified, limit):
            # finish, then the residual sum clamped, and its ReLU: three steps of the trunk in one
            wide = acc.shape[1] != 1
            for r in range(out.shape[0]):
                for c in range(out.shape[1]):
                    u = min(max(math.floor(acc[r, c if wide else 0]), -limit), limit)
                    v = min(max(h[r, c] + u, -limit), limit)
                    out[r, c] = v
                    rectified[r, c] = max(v, 0.0)

        _kernels = laplace_logits, weights, finish, residual
    return _kernels


def usable(*tensors: torch.Tensor, least: int | None = None) -> bool:
    """Whether the compiled loops take these: float64 on the CPU, and enough work to pay
    (``least`` elements in the first, MIN_ELEMENTS unless said)."""
    return (all(t.dtype == torch.float64 and t.device.type == "cpu" for t in tensors)
            and tensors[0].numel() >= (MIN_ELEMENTS if least is None else least))


def laplace_logits(values: torch.Tensor, mu: torch.Tensor, sharpness: torch.Tensor, scale: float,
                   limit: float) -> torch.Tensor:
    """-clamp(floor(sharpness |values - mu| scale) / scale, +-limit): (256,), (N, 1), (N, 1) -> (N, 256)."""
    out = np.empty((mu.shape[0], values.shape[0]), np.float64)
    _compiled()[0](_flat(values), _flat(mu), _flat(sharpness), float(scale), float(limit), out)
    return torch.from_numpy(out)


def weights(logits: torch.Tensor, factor: torch.Tensor, cap: int, table: torch.Tensor) -> torch.Tensor:
    """table[min(floor((max - logit) factor), cap)] per row of logits (N, K); factor (N,) float64
    (a row's scale: exact products, as ``ExactNumerics.probabilities`` makes them)."""
    out = np.empty(tuple(logits.shape), np.float64)
    _compiled()[1](np.ascontiguousarray(logits.detach().numpy()), _flat(factor), float(cap), _flat(table), out)
    return torch.from_numpy(out)


def _flat(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().reshape(-1).numpy(), np.float64)


def finish(acc: torch.Tensor, out: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """out = clamp(floor(acc), lo, hi), acc (R, N) or (R, 1); out (R, N) is written in place."""
    _compiled()[2](acc.numpy(), out.numpy(), float(lo), float(hi))
    return out


def residual(acc: torch.Tensor, h: torch.Tensor, out: torch.Tensor, rectified: torch.Tensor, limit: float) -> None:
    """out = clamp(h + clamp(floor(acc))), rectified = relu(out): a residual block's last step."""
    _compiled()[3](acc.numpy(), h.numpy(), out.numpy(), rectified.numpy(), float(limit))
