"""The float arithmetic training and evaluation use, and the verbs it shares with the exact one
(numerics.py): a model's forward is written once against these verbs and runs in either."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .convs import conv_weight


class SharedVerbs:
    """Verbs written the same for both arithmetics: the sheared decoder's (sheared.py). In exact
    arithmetic their inputs are already on the grids, so they round nothing: a partial conv sum
    stays within the bound of a whole conv's, and a ReLU of a grid value is one."""

    def mac(self, acc: torch.Tensor, w: torch.Tensor, v: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """acc + w @ v: a partial conv sum, features x pixels; ``out`` may be acc."""
        return torch.addmm(acc, w, v, out=out)

    def relu_into(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return torch.clamp_min(x, 0.0, out=out)

    def residual_into(self, acc: torch.Tensor, h: torch.Tensor, out: torch.Tensor, rectified: torch.Tensor) -> None:
        """A residual block's last step: its up conv's sum ``acc`` finished, added to the stream
        h, into ``out``, and that rectified into ``rectified``."""
        self.relu_into(self.add_into(h, self.finish_into(acc.expand_as(out), out), out), rectified)


class FloatNumerics(SharedVerbs):
    """Ordinary float32 arithmetic: what training and evaluation use."""

    exact = False
    dtype = torch.float32

    def memo(self, key, make):
        """Float weights are the live module's, which training changes: nothing is kept."""
        return make()

    def input(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() * (2.0 / 255.0) - 1.0

    def conv(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        weight, bias, pad = conv_weight(module)
        return F.conv2d(F.pad(x, pad), weight, bias)

    def dense(self, module: nn.Module, v: torch.Tensor, outputs: slice = slice(None)) -> torch.Tensor:
        """A conv evaluated on flattened input windows (N, C*kh*kw) -> (N, out), or those ``outputs``."""
        weight, bias, _ = conv_weight(module)
        out = v @ weight.flatten(1)[outputs].t()
        return out if bias is None else out + bias[outputs]

    def parts(self, module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """(masked weight (out, Cin, kh, kw), bias (out,)) as this arithmetic computes with them."""
        weight, bias, _ = conv_weight(module)
        return weight.detach(), (torch.zeros(weight.shape[0]) if bias is None else bias.detach())

    def finish(self, x: torch.Tensor, relu: bool = False) -> torch.Tensor:
        """A completed conv sum as a layer output (``relu``: rectified too)."""
        return F.relu(x) if relu else x

    # The sheared decoder (sheared.py) holds activations in units of 1/``unit``, written in place.
    unit = 1.0

    def finish_into(self, acc: torch.Tensor, out: torch.Tensor, relu: bool = False) -> torch.Tensor:
        return torch.clamp(acc, min=0.0, out=out) if relu else out.copy_(acc)

    def add_into(self, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return torch.add(a, b, out=out)

    def gate(self, a: torch.Tensor) -> torch.Tensor:
        f, g = a.chunk(2, dim=1)
        return torch.tanh(f) * torch.sigmoid(g)

    def sigmoid(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)

    def tanh(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x)

    def relu(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x)

    def mul(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a * b

    def add(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b

    def side_input(self, cond: torch.Tensor) -> torch.Tensor:
        return cond.float()

    def laplace(self, values: torch.Tensor, mu: torch.Tensor, sharpness: torch.Tensor) -> torch.Tensor:
        """-sharpness |values - mu|: the predictive head's logits, (256,), (N, 1), (N, 1) -> (N, 256)."""
        return self.mul(sharpness, (values - mu).abs_()).neg_()     # in place: decoding makes one a pass


FLOAT = FloatNumerics()
