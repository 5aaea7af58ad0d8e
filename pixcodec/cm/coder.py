"""A binary arithmetic coder for 12-bit probabilities: 32-bit, carry-less, bytes out MSB first.

The interval [low, high] shrinks to the part of the coded bit, split at
low + (high - low) / 4096 * p1. Once low and high share their top byte, that byte is final and
shifts out. The encoder ends with low's four bytes; the decoder reads zeros past the end. All
arithmetic is on integers below 2^44, so the compiled kernel and the interpreter agree.

State, one int64 array: [low, high, x (the decoder's window), position in the byte buffer].
"""
from __future__ import annotations

import numpy as np

from .jit import njit

MASK = 0xFFFFFFFF


def new_state() -> np.ndarray:
    return np.array([0, MASK, 0, 0], np.int64)


@njit
def _split(low, high, p1):
    return low + ((high - low) >> 12) * p1 + ((((high - low) & 0xFFF) * p1) >> 12)


@njit
def encode_bit(state, buf, bit, p1):
    """Code ``bit`` whose probability of being 1 is p1 / 4096 (1 <= p1 <= 4095)."""
    low, high, pos = state[0], state[1], state[3]
    mid = _split(low, high, p1)
    if bit:
        high = mid
    else:
        low = mid + 1
    while ((low ^ high) & 0xFF000000) == 0:
        buf[pos] = high >> 24
        pos += 1
        low = (low << 8) & MASK
        high = ((high << 8) & MASK) | 0xFF
    state[0], state[1], state[3] = low, high, pos


@njit
def finish(state, buf) -> int:
    """Write low's four bytes; the number of bytes coded."""
    pos, low = state[3], state[0]
    for shift in (24, 16, 8, 0):
        buf[pos] = (low >> shift) & 0xFF
        pos += 1
    state[3] = pos
    return pos


@njit
def _byte(data, pos):
    return np.int64(data[pos]) if pos < data.shape[0] else np.int64(0)


@njit
def start_decoding(state, data):
    x = np.int64(0)
    for i in range(4):
        x = (x << 8) | _byte(data, i)
    state[0], state[1], state[2], state[3] = 0, MASK, x, 4


@njit
def decode_bit(state, data, p1) -> int:
    low, high, x, pos = state[0], state[1], state[2], state[3]
    mid = _split(low, high, p1)
    bit = 1 if x <= mid else 0
    if bit:
        high = mid
    else:
        low = mid + 1
    while ((low ^ high) & 0xFF000000) == 0:
        low = (low << 8) & MASK
        high = ((high << 8) & MASK) | 0xFF
        x = ((x << 8) & MASK) | _byte(data, pos)
        pos += 1
    state[0], state[1], state[2], state[3] = low, high, x, pos
    return bit
