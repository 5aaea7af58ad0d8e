"""Head tuning: the encoder refits the model's last layer to the image; the file carries the change.

A photo model is trained on the average crop, and an image is not average: Set14's pepper
is noisy, and a model trained on cleaner photos follows the noise, paying 5.62 bits a
subpixel where the plain average of the west and north neighbours would pay 5.10. The last
layer of a predictive head (heads.py) maps the trunk's features to each channel's
correction mu', sharpness beta and channel couplings alpha: a few hundred numbers that
decide how much to trust which feature. Refitting just them to the image (the trunk's
features stay as they are) takes pepper to 5.09 and flowers from 5.20 to 4.53 in float.

The encoder fits additive deltas to that layer's unmasked weights and biases on a sample of
the image's pixels, seen as the codec sees them (tile by tile), and keeps them when a
held-out part of the sample says they save more than twice their header bytes. What the
deltas mean, and how both sides apply them bit-exactly, is the format's (``pxc.TunedHead``).

The fit uses the discrete Laplace's normaliser in closed form (two geometric series), not a
256-way softmax, so it costs a float forward pass over the image and a few seconds.
"""
from __future__ import annotations

import copy
import math
from typing import NamedTuple

import torch
import torch.nn as nn

from ..models.heads import LogitsHead, laplace_nats
from ..exact.convs import conv_weight
from ..exact.numerics import FLOAT
from ..pxc import TunedHead, tile_count, tiling_plan
from ..threads import one_thread, pieces_map, set_summed_gradients

STEP_BITS = TunedHead.STEP_BITS
LIMIT = 127               # int8 (finer steps, tried to 2^-12, gain under 0.1 % and cost twice the bytes)
SAMPLE = 1 << 16          # pixels the fit sees at most; a quarter more are held out to judge it
STEPS, LR = 200, 0.003    # Adam, full batch
MAX_GAIN = 1.0            # bits a subpixel tuning might save at most, to skip hopeless fits (CIFAR)
CHUNK = 2                 # tiles per float forward pass: bounded memory, and pieces of even size
SPREAD = 4                # large images: run 4x the sample's pixels' worth of random tiles
PIECES = 2                # float passes run on this many copies of the model at most, a core each


class _Sample(NamedTuple):
    """Per sampled pixel: the last layer's input features, v(P), v(x), x and the pixel's tile."""
    features: torch.Tensor       # (N, F)
    predicted: torch.Tensor      # (N, C)
    seen: torch.Tensor           # (N, C)
    target: torch.Tensor         # (N, C) long
    tile: torch.Tensor           # (N,) long, raster index

    def split(self, k: int) -> tuple["_Sample", "_Sample"]:
        return _Sample(*[t[:k] for t in self]), _Sample(*[t[k:] for t in self])


@torch.no_grad()
def _sample(model: nn.Module, image: torch.Tensor, tile: int, generator) -> _Sample | None:
    """Features of a random SAMPLE * 5/4 of the image's pixels, each tile run on its own as
    the codec runs it (a tile's context stops at its edges). On a large image only a random
    SPREAD times that many pixels' worth of tiles is run: the float pass is the fit's cost.
    Every draw is made first, in order; the passes then run on the caller's cores, each on a
    copy of the model (``_features``), and give what one thread would."""
    c, height, width = image.shape
    wanted = SAMPLE * 5 / 4
    spread = min(1.0, SPREAD * wanted / (height * width))      # the share of tiles run
    skipped = None
    if spread < 1.0:
        skipped = ~(torch.rand(tile_count(height, width, tile), generator=generator) < spread).numpy()
    keep = min(1.0, wanted / (spread * height * width))
    jobs = []
    for group in tiling_plan(height, width, tile, CHUNK, skipped):
        x = torch.stack([image[:, t.rows, t.cols] for t in group])                      # (B, C, h, w)
        chosen = torch.rand(x.shape[0] * x.shape[2] * x.shape[3], generator=generator) < keep
        if chosen.any():
            jobs.append((group, x, chosen))
    if not jobs:
        return None
    models = [model] + [copy.deepcopy(model) for _ in range(min(PIECES, len(jobs)) - 1)]
    pieces = [(m, jobs[k::len(models)]) for k, m in enumerate(models)]
    done = pieces_map(lambda piece: [_features(piece[0], *job) for job in piece[1]], pieces)
    parts = [done[k % len(models)][k // len(models)] for k in range(len(jobs))]          # back in order
    return _Sample(*[torch.cat([p[k] for p in parts]) for k in range(5)])


@torch.no_grad()
def _features(model: nn.Module, group: list, x: torch.Tensor, chosen: torch.Tensor) -> list[torch.Tensor]:
    """(features, v(P), v(x), x, tile) of the chosen pixels of one float pass over tiles x."""
    b, c, h, w = x.shape
    head, captured = model.head, {}
    hook = head.register_forward_pre_hook(lambda _, args, kwargs: captured.update(h=args[0]), with_kwargs=True)
    try:
        model(x)
    finally:
        hook.remove()
    hidden = FLOAT.relu(FLOAT.conv(head.hidden, FLOAT.relu(captured["h"])))              # (B, F, h, w)
    features = hidden.permute(0, 2, 3, 1).reshape(b * h * w, -1)                         # batch-major
    rows, cols = torch.arange(h).repeat_interleave(w), torch.arange(w).repeat(h)
    predicted, seen = head.context(FLOAT, x, rows, cols)                                 # (B*h*w, C) each
    target = x.permute(0, 2, 3, 1).reshape(b * h * w, c).long()
    tile_of = torch.tensor([t.index for t in group]).repeat_interleave(h * w)
    return [t[chosen] for t in (features, predicted, seen, target, tile_of)]


def bits(raw: torch.Tensor, s: _Sample, head: LogitsHead, sharpness: torch.Tensor | None = None) -> torch.Tensor:
    """Total -log2 p of the sample's subpixels under the last layer's outputs raw (N, C*block):
    the head's discrete Laplace over 0..255 (``LogitsHead.peak``), its normaliser summed in closed
    form (``laplace_nats``). sharpness: (N, C) factors on the logits, as the codec's per-tile
    sharpness scales them."""
    n, c = s.target.shape
    mu, k = head.peaks(raw.view(n, c, head.block), FLOAT, (s.predicted, s.seen))    # (N, C) each
    return laplace_nats(mu, k if sharpness is None else k * sharpness, s.target).double().sum() / math.log(2)


def _minimise(loss, params: list[torch.Tensor], lr: float, steps: int, pieces: list | None = None) -> None:
    """Adam on loss(piece)'s gradients; with ``pieces``, each step's gradient is the sum of the
    pieces' (each on a core of its own, added in their order: the same at any thread count)."""
    optimizer = torch.optim.Adam(params, lr=lr)

    def gradients(piece) -> tuple[torch.Tensor, ...]:
        with torch.enable_grad():          # grad mode is per thread
            return torch.autograd.grad(loss(piece), params)
    for _ in range(steps):
        set_summed_gradients(params, gradients, pieces or [None])
        optimizer.step()


@one_thread
def fit(model: nn.Module, image: torch.Tensor, tile: int, sharpness: bool = True) -> TunedHead | None:
    """The section of int8 deltas for the last layer (weights under the mask, then biases) that pay for their
    header bytes on ``image`` (C, H, W), or None. Deterministic for a given image, at any thread count (one_thread).

    sharpness: the codec will also scale each tile's logits (adapt.py), which captures part of
    what tuning gains; the saving is then judged with a free temperature per tile and channel
    fitted on both sides, so the deltas are kept only for what they add beyond it."""
    if not TunedHead.tunable(model) or image.shape[0] != model.in_channels:
        return None
    if image.numel() * MAX_GAIN < 2 * 8 * (2 + TunedHead.parameter_count(model)):   # cannot pay: skip the fit
        return None
    generator = torch.Generator().manual_seed(0)
    sample = _sample(model, image, tile, generator)
    if sample is None or len(sample.target) < 64:
        return None
    order = torch.randperm(len(sample.target), generator=generator)
    part, check = _Sample(*[t[order] for t in sample]).split(len(order) * 4 // 5)
    weight, bias, _ = conv_weight(model.head.out)
    weight, bias = weight.detach().flatten(1).float(), bias.detach().float()
    mask, head = TunedHead.mask(model), model.head
    d_w = torch.zeros_like(weight, requires_grad=True)
    d_b = torch.zeros_like(bias, requires_grad=True)
    _minimise(lambda p: bits(p.features @ (weight + d_w * mask).t() + bias + d_b, p, head) / part.target.numel(),
              [d_w, d_b], LR, STEPS, list(part.split(len(part.target) // 2)))
    scale, n = float(1 << STEP_BITS), int(mask.sum())
    deltas = torch.cat([(d_w.detach() * scale).round()[mask], (d_b.detach() * scale).round()]).clamp(-LIMIT, LIMIT)
    tuned_w, tuned_b = weight.clone(), bias + deltas[n:] / scale
    tuned_w[mask] += deltas[:n] / scale
    def judged(layer: tuple[torch.Tensor, torch.Tensor]) -> float:
        w, b = layer
        with torch.no_grad():
            raw_part, raw_check = part.features @ w.t() + b, check.features @ w.t() + b
        return _judged(part, check, raw_part, raw_check, head, image.shape[0], sharpness)
    before, after = pieces_map(judged, [(weight, bias), (tuned_w, tuned_b)])     # a core each
    coded = image.shape[1] * image.shape[2]
    saving = (before - after) * coded / len(check.target)
    return TunedHead(deltas.to(torch.int8)) if saving > 2 * 8 * (2 + deltas.numel()) else None


def _judged(part: _Sample, check: _Sample, raw_part, raw_check, head: LogitsHead, channels: int,
            sharpness: bool) -> float:
    """The check sample's bits under raw outputs, after the per-tile temperatures that best fit
    ``part`` when the codec will adapt sharpness (the check's tiles use theirs; unseen tiles 1)."""
    if not sharpness:
        return float(bits(raw_check, check, head))
    tiles = int(max(part.tile.max(), check.tile.max())) + 1
    log_k = torch.zeros(tiles, channels, requires_grad=True)
    _minimise(lambda _: bits(raw_part, part, head, log_k.exp()[part.tile]) / part.target.numel(), [log_k], 0.05, 100)
    return float(bits(raw_check, check, head, log_k.detach().exp()[check.tile]))
