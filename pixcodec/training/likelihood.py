"""Exact likelihoods in bits.

bits/dim is the total -log2 p over all subpixels divided by the number of
subpixels. A dataset's figure is pooled (total bits over total subpixels),
not a mean of per-image ratios, so large images weigh what they cost.

Evaluation runs the model in float32 with no autocast and takes the softmax
in float64, so the figure is what an ideal entropy coder driven by the same
model would pay, to ~1e-12 rather than float32's ~1e-7.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

LN2 = math.log(2.0)

# The float64 log-softmax costs 256 * 8 bytes per subpixel; bands of this many
# subpixels keep the largest tensor near 1 GiB whatever the image size.
MAX_SUBPIXELS_PER_PASS = 1 << 19


def nll_bits(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-image -log2 p(x): logits (B, 256, C, H, W), x uint8 (B, C, H, W) -> (B,) float64."""
    logp = F.log_softmax(logits.double(), dim=1)                    # (B, 256, C, H, W)
    picked = logp.gather(1, x.long().unsqueeze(1)).squeeze(1)       # (B, C, H, W)
    return -picked.flatten(1).sum(1) / LN2


@torch.no_grad()
def image_bits(model: nn.Module, x: torch.Tensor, cond: torch.Tensor | None = None,
               max_subpixels: int = MAX_SUBPIXELS_PER_PASS) -> torch.Tensor:
    """Exact -log2 p(x) per image, in row bands when the batch is large.

    A band of rows [r0, r1) is run on rows [r0 - context_rows, r1): the model
    cannot see further up, so the band's logits equal the full pass's.
    """
    b, c, h, w = x.shape
    context = getattr(model, "context_rows", None)
    kwargs = {} if cond is None else {"cond": cond}
    if context is None or b * c * h * w <= max_subpixels:
        return nll_bits(model(x, **kwargs), x)
    band = max(1, max_subpixels // (b * c * w))
    total = torch.zeros(b, dtype=torch.float64, device=x.device)
    for r0 in range(0, h, band):
        r1, top = min(h, r0 + band), max(0, r0 - context)
        if cond is not None and cond.dim() == 4:
            kwargs = {"cond": cond[:, :, top:r1]}
        logits = model(x[:, :, top:r1], **kwargs)[:, :, :, r0 - top:]   # (B, 256, C, r1-r0, W)
        total += nll_bits(logits, x[:, :, r0:r1])
    return total


@dataclass
class Evaluation:
    bits: float = 0.0
    subpixels: int = 0
    images: int = 0
    latent_bits: float | None = None      # two-part models: the bits(z) share of ``bits``

    @property
    def bits_per_dim(self) -> float:
        return self.bits / self.subpixels if self.subpixels else float("nan")

    def add(self, bits: torch.Tensor, x: torch.Tensor, latent_bits: torch.Tensor | None = None) -> None:
        self.bits += float(bits.sum()) + (float(latent_bits.sum()) if latent_bits is not None else 0.0)
        if latent_bits is not None:
            self.latent_bits = (self.latent_bits or 0.0) + float(latent_bits.sum())
        self.subpixels += x.numel()
        self.images += x.shape[0]

    @property
    def split(self) -> str:
        return two_part_split(self.bits, self.latent_bits, self.subpixels)

    def as_dict(self) -> dict:
        out = {"bits_per_dim": self.bits_per_dim, "bits": self.bits, "subpixels": self.subpixels, "images": self.images}
        if self.latent_bits is not None:      # both per subpixel of x, so they add up to bits_per_dim
            out["latent_bits_per_dim"] = self.latent_bits / self.subpixels
            out["pixel_bits_per_dim"] = (self.bits - self.latent_bits) / self.subpixels
        return out


def two_part_split(total_bits: float, latent_bits: float | None, subpixels: int) -> str:
    """' = z Z + x|z X' per subpixel of x for two-part figures; nothing for plain ones."""
    if latent_bits is None:
        return ""
    return f" = z {latent_bits / subpixels:.4f} + x|z {(total_bits - latent_bits) / subpixels:.4f}"


def same_shape_batches(items: Iterable, batch_size: int) -> Iterable:
    """Group consecutive items of equal image shape into batches. An item is a uint8 (C, H, W)
    image or an (image, label) pair; batches are (B, C, H, W) or ((B, C, H, W), (B,))."""
    pending: list[tuple] = []
    for item in items:
        pair = item if isinstance(item, tuple) else (item, None)
        if pending and (pair[0].shape != pending[0][0].shape or len(pending) == batch_size):
            yield _stack(pending)
            pending = []
        pending.append(pair)
    if pending:
        yield _stack(pending)


def _stack(pairs: list[tuple]):
    images = torch.stack([p[0] for p in pairs])
    return images if pairs[0][1] is None else (images, torch.tensor([p[1] for p in pairs]))


@torch.no_grad()
def evaluate(model: nn.Module, images: Iterable, batch_size: int = 64, device: torch.device | str = "cpu",
             on_batch: Callable[[Evaluation], None] | None = None, condition=None) -> Evaluation:
    """Pooled bits/dim of a model over uint8 (C, H, W) images of any sizes.

    With a ``condition`` (conditioning.ClassCondition) the items are (image, label) pairs and
    the figure is the conditional bits/dim. A two-part model (the auto-encoder) reports
    bits(x | z) + bits(z), and bits(z) on its own as ``latent_bits``; with a continuous vector
    latent, which is not coded, only bits(x | e)."""
    was_training = model.training
    model.eval()
    result = Evaluation()
    try:
        for batch in same_shape_batches(images, batch_size):
            x, labels = batch if condition is not None else (batch, None)
            x = x.to(device)
            if not getattr(model, "autoregressive", True):
                bits_x, bits_z = model(x)        # a vector latent is not coded: bits(x | e) alone
                result.add(bits_x, x, bits_z if model.latent == "codes" else None)
            elif condition is not None:
                result.add(image_bits(model, x, condition.one_hot(labels).to(device)), x)
            else:
                result.add(image_bits(model, x), x)
            if on_batch is not None:
                on_batch(result)
    finally:
        model.train(was_training)
    return result

