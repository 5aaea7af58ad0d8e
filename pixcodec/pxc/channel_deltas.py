"""Channel deltas: every layer's output channels rescaled and shifted for one image (version 8).

A model is trained on the average crop; an image is not average. Per conv of the model
(``numerics.convs_of`` order) and per output channel i, the file carries an integer gain g_i
and shift d_i, and both sides fold them into the exact weights (w on the 2^-14 grid, b on the
2^-26 grid) before coding, in integers:

    W = w * 2^14,  B = b * 2^26                               (integers: the grids)
    W'[i] = floor((W[i] * (GAIN_ONE + g_i) + GAIN_ONE / 2) / GAIN_ONE)
    B'[i] = floor((B[i] * (GAIN_ONE + g_i) + GAIN_ONE / 2) / GAIN_ONE) + d_i * 2^(26 - SHIFT_BITS)

that is, each row times (1 + g_i / 32), rounded to the nearest grid point (halves up), and the
bias moved by d_i / 64. The layer then computes as before, so decoding costs nothing more; the
file still names the model as trained. The encoder's fit is channel_tuning.py's.

Bytes: u16 N (the values: every gain in conv and channel order, then every shift), one byte
k_gain * 16 + k_shift, u16 L, then L bytes of Rice codes. Each value v (|v| <= 127) is mapped to
u = 2v (v >= 0) or -2v - 1, and written as u >> k one bits, a zero bit, then u's low k bits,
most significant first, the gains with k_gain, the shifts with k_shift. Bits fill each byte
from its top; the last byte's unused bits are zero.
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import numpy as np

from ..errors import PixcodecError
from .sections import TRUNCATED, Section, tensor

if TYPE_CHECKING:
    import torch
    import torch.nn as nn

FLAG_DELTAS = 256
GAIN_BITS, SHIFT_BITS = 5, 6          # gains in steps of 1/32, shifts of 1/64 (an activation is 2^-12)
GAIN_ONE = 1 << GAIN_BITS
LIMIT = 127
MAX_K = 7
CORRUPT = "corrupt .pxc header (channel deltas)"


def zigzag(values: np.ndarray) -> np.ndarray:
    return np.where(values >= 0, 2 * values, -2 * values - 1)


def rice_bits(values: np.ndarray, k: int) -> int:
    """Bits of ``values``' Rice codes with parameter k."""
    return int((zigzag(values.astype(np.int64)) >> k).sum()) + (1 + k) * len(values)


def best_k(values: np.ndarray) -> int:
    return min(range(MAX_K + 1), key=lambda k: (rice_bits(values, k), k))


def rice_encode(parts: list[tuple[np.ndarray, int]]) -> bytes:
    bits: list[int] = []
    for values, k in parts:
        for u in zigzag(values.astype(np.int64)).tolist():
            bits += [1] * (u >> k) + [0] + [(u >> i) & 1 for i in range(k - 1, -1, -1)]
    return np.packbits(np.array(bits, dtype=np.uint8)).tobytes()


def rice_decode(data: bytes, parts: list[tuple[int, int]]) -> np.ndarray:
    """``parts``: (count, k) in order. Refuses a code past 254, a short stream and stray bits."""
    bits = np.unpackbits(np.frombuffer(data, np.uint8)).tolist()
    out, at = [], 0
    for count, k in parts:
        for _ in range(count):
            q = 0
            while at < len(bits) and bits[at]:
                q, at = q + 1, at + 1
                if q > (2 * LIMIT) >> k:
                    raise PixcodecError(CORRUPT)
            if at + 1 + k > len(bits):
                raise PixcodecError(CORRUPT)
            low = 0
            for bit in bits[at + 1:at + 1 + k]:
                low = low * 2 + bit
            u, at = (q << k) | low, at + 1 + k
            if u > 2 * LIMIT:
                raise PixcodecError(CORRUPT)
            out.append(u // 2 if u % 2 == 0 else -(u + 1) // 2)
    if len(bits) - at >= 8 or any(bits[at:]):
        raise PixcodecError(CORRUPT)
    return np.array(out, dtype=np.int64)


class ChannelDeltas(Section):
    flag, key, title = FLAG_DELTAS, "deltas", "channel deltas"

    def __init__(self, gains, shifts, ks: tuple[int, int] | None = None):
        self.gain_values = np.asarray(gains, dtype=np.int64)      # (channels,) each, every conv's in order
        self.shift_values = np.asarray(shifts, dtype=np.int64)
        self.ks = ks            # the Rice parameters a file was read with (None: the smallest codes)

    @property
    def gains(self) -> "torch.Tensor":
        return tensor(self.gain_values)

    @property
    def shifts(self) -> "torch.Tensor":
        return tensor(self.shift_values)

    @classmethod
    def read(cls, reader, frame):
        count, ks, length = reader.u16(), reader.take(1)[0], reader.u16()
        if count == 0 or count % 2 or ks >> 4 > MAX_K or ks & 15 > MAX_K:
            raise PixcodecError(TRUNCATED)
        half = count // 2
        values = rice_decode(reader.take(length), [(half, ks >> 4), (half, ks & 15)])
        return cls(values[:half], values[half:], (ks >> 4, ks & 15))

    def _parts(self) -> list[tuple[np.ndarray, int]]:
        """Each half with its Rice parameter: as read, so that a file's bytes and size are its own
        (any k is lawful), else the one giving the fewest bits."""
        gains, shifts = self.gain_values, self.shift_values
        k_gain, k_shift = self.ks or (best_k(gains), best_k(shifts))
        return [(gains, k_gain), (shifts, k_shift)]

    def write(self, frame):
        n = self.gain_values.size
        if not 0 < 2 * n < 1 << 16 or self.shift_values.size != n:
            raise ValueError("channel deltas: a gain and a shift per channel, 1 to 32767 channels")
        if int(np.abs(self.gain_values).max()) > LIMIT or int(np.abs(self.shift_values).max()) > LIMIT:
            raise ValueError(f"channel deltas lie within +-{LIMIT}")
        parts = self._parts()
        stream = rice_encode(parts)
        if len(stream) >= 1 << 16:
            raise ValueError("channel deltas: over 65535 bytes of codes")
        return struct.pack("<HBH", 2 * n, parts[0][1] * 16 + parts[1][1], len(stream)) + stream

    def size(self, frame=None):
        return 5 + -(-sum(rice_bits(v, k) for v, k in self._parts()) // 8)

    @staticmethod
    def channel_count(model: nn.Module) -> int:
        from ..exact.convs import conv_weight
        from ..exact.numerics import convs_of
        return sum(conv_weight(m)[0].shape[0] for m in convs_of(model))

    def numerics(self, exact, model: nn.Module):
        """The exact arithmetic of ``model`` with every conv's channels moved by these deltas
        (ValueError when they do not fit the model, or push a layer past the exact bounds)."""
        import torch

        from ..exact.numerics import ACT_BITS, WEIGHT_BITS, convs_of
        bias_bits = ACT_BITS + WEIGHT_BITS                                              # the bias grid
        convs = convs_of(model)
        if self.gains.numel() != self.channel_count(model):
            raise ValueError(f"{self.gains.numel()} channel deltas for a model with {self.channel_count(model)} channels")
        changes, at = [], 0
        for module in convs:
            weight, bias = exact.parts(module)
            n = weight.shape[0]
            gain = (GAIN_ONE + self.gains[at:at + n])[:, None]                         # (out, 1) integers
            shift = self.shifts[at:at + n]
            w = (weight.flatten(1) * (1 << WEIGHT_BITS)).long()                        # exact: the weight grid
            b = (bias * (1 << bias_bits)).long()                                        # and the bias grid
            w = torch.div(w * gain + GAIN_ONE // 2, GAIN_ONE, rounding_mode="floor")
            b = torch.div(b * gain[:, 0] + GAIN_ONE // 2, GAIN_ONE, rounding_mode="floor") + shift * (1 << (bias_bits - SHIFT_BITS))
            if int(b.abs().max()) >= 1 << 52:
                raise ValueError("a shifted bias beyond the exact bounds")
            changes.append((module, w.double() / (1 << WEIGHT_BITS), b.double() / (1 << bias_bits)))
            at += n
        return exact.replaced_all(changes)

    @classmethod
    def describe(cls, section, stream_lengths):
        return {"channel_deltas": None if section is None else section.gain_values.size}
