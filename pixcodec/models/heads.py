"""The pieces every model shares at its two ends: the input check and the softmax head."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..exact.numerics import FLOAT
from .masked import channel_groups, raster_conv

HEADS = ("softmax", "laplace", "predictive")
LAPLACE_SCALE = 64.0     # a power of two: scaling by it is exact


def check_image(x: torch.Tensor) -> torch.Tensor:
    """Models take uint8 (B, C, H, W) images and nothing else."""
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise TypeError(f"models take uint8 (B, C, H, W) images, got {x.dtype} of shape {tuple(x.shape)}")
    return x


class LogitsHead(nn.Module):
    """ReLU, 1x1 mask B, ReLU, 1x1 mask B to each channel's block of outputs, then logits.

    The output features are grouped R block, G block, B block, so the final view
    splits them by channel without mixing groups. What a block holds, by ``kind``
    (v(k) = 2k/255 - 1 is value k as the model sees it)::

        softmax     256 free logits
        laplace     256 free logits, mu, beta:
                    logit[k] = free[k] - 64 relu(beta) |v(k) - mu|
        predictive  mu', beta, alpha_1 .. alpha_c (channel c's earlier channels):
                    mu = v(P_c) + mu' + sum_{c' < c} alpha_c' (v(x_c') - v(P_c'))
                    logit[k] = -64 relu(beta) |v(k) - mu|

    ``laplace`` keeps an arbitrary 256-way softmax, but "close to what the context
    predicts" no longer has to be learned value by value: every pixel's gradient
    reaches mu and beta. ``predictive`` goes further, as lossless coders from
    LOCO-I on do: P is the median edge detector's prediction from the pixel's
    west, north and north-west neighbours (``med_context``), the network learns
    the correction, the sharpness and, like PixelCNN++'s channel coefficients,
    how much of the earlier channels' surprise carries over. It starts where
    JPEG-LS is, has no 256-wide output layer, and trains and decodes faster.
    All terms are exact in ``ExactNumerics`` (grid values, exact products, floors).
    """

    def __init__(self, in_groups: torch.Tensor, hidden: int, channels: int, kind: str = "softmax"):
        super().__init__()
        if kind not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, not {kind!r}")
        hidden_groups = channel_groups(hidden, channels)
        self.channels, self.kind = channels, kind
        self.block = {"softmax": 256, "laplace": 258, "predictive": 1 + channels}[kind]   # outputs per channel
        self.hidden = raster_conv(in_groups, hidden_groups, 1, "B")
        self.out = raster_conv(hidden_groups, channel_groups(self.block * channels, channels), 1, "B")
        with torch.no_grad():
            bias = self.out.conv.bias.view(channels, self.block)
            if kind == "laplace":     # start with a mild preference for the predicted value
                bias[:, 257] = 0.1
            if kind == "predictive":  # start near JPEG-LS: a moderately sharp peak, channels half coupled
                self.out.conv.weight.mul_(0.1)
                bias[:, 0], bias[:, 1], bias[:, 2:] = 0.0, 0.3, 0.5

    def forward(self, h: torch.Tensor, num=FLOAT, x: torch.Tensor | None = None,
                nats: bool = False) -> torch.Tensor:
        """Features (B, F, H, W) -> logits (B, 256, C, H, W); the predictive head also needs the image x.

        nats=True returns x's own cost instead, -ln p(x) per subpixel (B, C, H, W): the same
        distribution, but the predictive head sums its normaliser in closed form rather than
        building 256 logits a subpixel, which made training three times faster."""
        b, _, height, width = h.shape
        raw = num.conv(self.out, num.relu(num.conv(self.hidden, num.relu(h))))       # (B, block*C, H, W)
        raw = raw.view(b, self.channels, self.block, height, width).permute(0, 1, 3, 4, 2)
        context = None
        if self.kind == "predictive":
            rows = torch.arange(height, device=h.device).repeat_interleave(width)
            cols = torch.arange(width, device=h.device).repeat(height)
            context = [t.view(b, height, width, -1) for t in self.context(num, x, rows, cols)]
            if nats:
                mu, sharpness = (t.permute(0, 3, 1, 2) for t in self.peaks(raw, num, context))  # (B, C, H, W)
                return laplace_nats(mu, sharpness, x)
        logits = torch.stack([self.shape(raw[:, c], num, c, context) for c in range(self.channels)], 1
                             ).permute(0, 4, 1, 2, 3)                                # (B, 256, C, H, W)
        if nats:
            return -torch.log_softmax(logits.float(), 1).gather(1, x.long()[:, None])[:, 0]
        return logits

    def at_pixel(self, h: torch.Tensor, c: int, num=FLOAT, context=None) -> torch.Tensor:
        """Channel c's logits from pixel features (N, F) -> (N, 256); only its block is computed."""
        hidden = num.relu(num.dense(self.hidden, num.relu(h)))                  # (N, out_hidden)
        return self.shape(num.dense(self.out, hidden, slice(self.block * c, self.block * (c + 1))), num, c, context)

    def context(self, num, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor):
        """What ``shape`` needs beyond the features at (rows, cols): for the predictive head
        (v(P), v(x)), each (B*P, C) batch-major as ``engine.pixel_inputs``; else None."""
        predicted = self.predictions(num, image, rows, cols)
        if predicted is None:
            return None
        values = image[:, :, rows, cols].permute(0, 2, 1).reshape(-1, image.shape[1])
        return predicted, num.input(values)

    def predictions(self, num, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor):
        """v(P) at (rows, cols) -> (B*P, C) for the predictive head, else None. It reads only
        finished pixels, so a decoder may compute it once per pixel for all channel passes."""
        return num.input(med_context(image, rows, cols)) if self.kind == "predictive" else None

    def shape(self, raw: torch.Tensor, num, c: int, context=None) -> torch.Tensor:
        """Channel c's raw block (..., block) -> logits (..., 256); ``context`` from ``context``."""
        if self.kind == "softmax":
            return raw
        values = _values(num, raw)                                                     # v(k) on the grid
        if self.kind == "laplace":
            free, mu, beta = raw[..., :256], raw[..., 256:257], raw[..., 257:258]
            return num.add(free, num.mul(num.relu(beta) * LAPLACE_SCALE, (values - mu).abs_()).neg_())
        mu, sharpness = self.peak(raw, num, c, context)
        return num.laplace(values, mu, sharpness)

    def peak(self, raw: torch.Tensor, num, c: int, context) -> tuple[torch.Tensor, torch.Tensor]:
        """The predictive head's (mu, 64 relu(beta)), each (..., 1), from channel c's raw block:
        logit[k] = -64 relu(beta) |v(k) - mu|. tune.py sums these Laplaces in closed form."""
        predicted, seen = context
        mu = num.add(predicted[..., c:c + 1], raw[..., 0:1])
        for e in range(c):     # in channel order in every caller: clamping makes order matter
            surprise = seen[..., e:e + 1] - predicted[..., e:e + 1]
            mu = num.add(mu, num.mul(raw[..., 2 + e:3 + e], surprise))
        return mu, num.relu(raw[..., 1:2]) * LAPLACE_SCALE

    def peaks(self, raw: torch.Tensor, num, context) -> tuple[torch.Tensor, torch.Tensor]:
        """``peak`` for every channel: raw (B, C, ..., block) -> (mu, sharpness), each (B, ..., C)."""
        found = [self.peak(raw[:, c], num, c, context) for c in range(self.channels)]
        mu, sharpness = (torch.cat(p, -1) for p in zip(*found))
        return mu, sharpness


def laplace_nats(mu: torch.Tensor, sharpness: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-ln p(x) under the predictive head's logits -sharpness |v(k) - mu| over k = 0..255,
    with the normaliser summed in closed form; all arguments of one shape.

    In value units (m = where mu falls among 0..255, s the slope per value step) the
    normaliser is two geometric series, over the values at or below m and those above:
    Z = sum_{i <= j} e^{-s (m - i)} + sum_{i > j} e^{-s (i - m)},  j = floor(m).
    Equal to the 256-way log-softmax to float rounding (tests check it against the model's
    logits); training and head tuning (tune.py) both use it."""
    # A peak beyond an end gives the same distribution as one at that end (every logit moves
    # by one constant), so clamping m is exact; slope 0 (a flat head) is the limit 1e-7 nears.
    m = ((mu.float() + 1.0) * 127.5).clamp(0, 255)                 # v(k) = 2k/255 - 1
    slope = (sharpness.float() * (2.0 / 255.0)).clamp(min=1e-7)
    j = torch.floor(m).clamp(max=254).detach()       # m = 255 counts as just above 254
    low_n, up_n = j + 1, 255 - j

    def run(start, count):     # ln of e^{-slope start} * sum_{i < count} e^{-slope i}, count >= 1
        return -slope * start + torch.log(-torch.expm1(-slope * count)) - torch.log(-torch.expm1(-slope))
    log_z = torch.logaddexp(run(m - j, low_n), run(j + 1 - m, up_n))
    return slope * (x.float() - m).abs() + log_z


def med_context(image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """LOCO-I's median edge detector at (rows, cols) of uint8 (B, C, H, W) -> (B*P, C) uint8.

    With west W, north N and north-west D: min(W, N) if D >= max(W, N), max(W, N)
    if D <= min(W, N), else W + N - D. A missing neighbour takes the one that
    exists (row 0 reads its west pixel, column 0 its north one); pixel (0, 0)
    predicts 128. Only finished pixels are read, so it is causal for every channel.
    """
    up, left = (rows > 0)[None, None], (cols > 0)[None, None]                        # (1, 1, P)
    r1, c1 = (rows - 1).clamp(min=0), (cols - 1).clamp(min=0)
    # gathered before widening: the decoder calls this every step on a whole batch of tiles
    n_raw, w_raw, d_raw = (image[:, :, r, c].long() for r, c in ((r1, cols), (rows, c1), (r1, c1)))  # (B, C, P)
    mid = torch.full_like(n_raw, 128)
    n = torch.where(up, n_raw, torch.where(left, w_raw, mid))
    w = torch.where(left, w_raw, n)
    d = torch.where(up & left, d_raw, torch.where(up, n_raw, w))
    hi, lo = torch.maximum(n, w), torch.minimum(n, w)
    p = torch.where(d >= hi, lo, torch.where(d <= lo, hi, n + w - d))
    return p.to(torch.uint8).permute(0, 2, 1).reshape(-1, image.shape[1])


_VALUES: dict = {}


def _values(num, like: torch.Tensor) -> torch.Tensor:
    """v(k) for k = 0..255 as ``num`` scales inputs: built once, not on every decoding pass."""
    key = (type(num), like.dtype, like.device)
    if key not in _VALUES:
        _VALUES[key] = num.input(torch.arange(256, device=like.device)).to(like.dtype)
    return _VALUES[key]
