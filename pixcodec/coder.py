"""The entropy coder: constriction's range coder, fed one engine step (B symbols) at a time.

Probabilities arrive as exact unnormalised weights (numerics.ExactNumerics.probabilities),
identical on both sides, and constriction's ``Categorical(perfect=False)`` quantizes them
identically too; it also gives every symbol a nonzero probability, so any value can be coded.
"""
from __future__ import annotations

import constriction
import numpy as np
import torch

from .errors import PixcodecError

_MODEL = constriction.stream.model.Categorical(perfect=False)


class SymbolEncoder:
    def __init__(self):
        self._coder = constriction.stream.queue.RangeEncoder()

    def encode(self, symbols: torch.Tensor, weights: torch.Tensor) -> None:
        """symbols (N,) in 0..255, weights (N, 256) float64."""
        self._coder.encode(symbols.to(torch.int32).numpy(), _MODEL, weights.numpy())

    def finish(self) -> bytes:
        return self._coder.get_compressed().astype("<u4").tobytes()


class SymbolDecoder:
    def __init__(self, payload: bytes):
        if len(payload) % 4:
            raise PixcodecError("corrupt payload: its length is not a whole number of 32-bit words")
        self._coder = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))

    def decode(self, weights: torch.Tensor) -> torch.Tensor:
        """weights (N, 256) float64 -> symbols (N,) uint8."""
        try:
            symbols = self._coder.decode(_MODEL, weights.numpy())
        except Exception as e:  # constriction reports exhausted or invalid data this way
            raise PixcodecError(f"corrupt payload: the range decoder failed ({e})") from None
        return torch.from_numpy(symbols.astype(np.uint8))
