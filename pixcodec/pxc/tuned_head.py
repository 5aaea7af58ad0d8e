"""The ``tuned`` header section: the predictive head's last layer refitted to the image
(encoder/tune.py fits it), as int8 deltas both sides fold into the exact arithmetic."""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import numpy as np

from ..errors import PixcodecError
from .sections import FLAG_TUNED, TRUNCATED, Section, tensor

if TYPE_CHECKING:                  # reading a header needs numpy only
    import torch
    import torch.nn as nn


class TunedHead(Section):
    """Int8 deltas, in steps of 2^-STEP_BITS, to the last layer of a ``predictive`` head: its
    weights under the causal mask in (output, input) order, then its biases. The file still
    names the untuned model; both sides build the same tuned exact arithmetic from it."""
    flag, key, title = FLAG_TUNED, "tuned", "tuned head"
    STEP_BITS = 7               # integers times 2^-7 stay on the weight (2^-14) and bias grids

    def __init__(self, deltas):
        self.values = np.asarray(deltas, dtype=np.int8)        # (D,)

    @property
    def deltas(self) -> "torch.Tensor":
        return tensor(self.values)

    @classmethod
    def read(cls, reader, frame):
        count = reader.u16()
        if count == 0:
            raise PixcodecError(TRUNCATED)
        return cls(np.frombuffer(reader.take(count), np.int8).copy())

    def write(self, frame):
        if not 0 < self.values.size < 1 << 16:
            raise ValueError("tuned head: 1 to 65535 int8 deltas")
        return struct.pack("<H", self.values.size) + self.values.tobytes()

    def size(self, frame):
        return 2 + self.values.size

    @staticmethod
    def tunable(model: nn.Module) -> bool:
        """Only a predictive head's last layer is small enough (4 outputs a channel) to carry."""
        from ..models.heads import LogitsHead
        head = getattr(model, "head", None)
        return isinstance(head, LogitsHead) and head.kind == "predictive"

    @staticmethod
    def mask(model: nn.Module) -> torch.Tensor:
        """(out, in) bool: the last layer's weights a delta may change (its causal mask's ones)."""
        return model.head.out.mask.flatten(1).bool()

    @classmethod
    def parameter_count(cls, model: nn.Module) -> int:
        return int(cls.mask(model).sum()) + model.head.out.conv.bias.numel()

    def numerics(self, exact, model: nn.Module):
        """The exact arithmetic of ``model`` with its last layer moved by these deltas."""
        if not self.tunable(model):
            raise ValueError("only a predictive head's last layer can be tuned")
        if self.deltas.numel() != self.parameter_count(model):
            raise ValueError(f"{self.deltas.numel()} head deltas for a layer with {self.parameter_count(model)} parameters")
        weight, bias = exact.parts(model.head.out)
        weight, bias = weight.flatten(1).clone(), bias.clone()
        mask, step = self.mask(model), 2.0 ** -self.STEP_BITS
        n = int(mask.sum())
        weight[mask] += self.deltas[:n].double() * step
        bias += self.deltas[n:].double() * step
        return exact.replaced(model.head.out, weight, bias)

    @classmethod
    def describe(cls, section, stream_lengths):
        return {"tuned_head_deltas": None if section is None else section.values.size}
