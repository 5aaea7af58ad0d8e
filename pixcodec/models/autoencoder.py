"""PixelCNN auto-encoder ("Conditional Image Generation with PixelCNN Decoders", section 3.4),
with a learned autoregressive prior over a discrete latent, so that it is a two-part lossless
codec: bits(z under the prior) + bits(x | z)::

    x (B, C, H, W) --encoder--> latent
      latent=vector: e (B, E)                  continuous: representations, interpolation;
                                               vector_norm=batch: each dimension standardized
                                               over the batch (running statistics at eval)
      latent=codes:  z (B, D, H/f, W/f)         scalar-quantized to levels 0..L-1, straight
                                                through the clamp and rounding for the decoder
    decoder: a conditional Gated PixelCNN p(x | cond)
      vector: cond = e, a class-like bias V e at every position
      codes:  cond = s = m(z) at H x W, a location-dependent bias V * s, where the
              deconvolutional net m is log2(f) x (nearest upsample x2, 3x3 conv, ReLU), 1x1 conv
    prior (codes only): any registered pixel model over z drawn as a D-channel image, level l
                        shown as round(l * 255 / (L - 1)), coded with that model's softmax

Both m and the decoder run in the caller's arithmetic (``num``), so a coder computes the
condition bit for bit on either side; the encoder runs once, at the sender, in float.

A free vector can grow into a constant, the same for every image, that the decoder reads as a
bias instead of reading the image (and a tanh on it saturates). Standardizing each dimension
over the batch (``vector_norm=batch``) keeps it varying across images at a fixed scale; the
default stays ``none``, what earlier checkpoints were trained with.

The rate's gradient: bits(z) is a function of discrete levels, so the encoder gets it through a
straight-through surrogate, -log2 p interpolated linearly between the levels either side of
its continuous output: its value is the true bits(z), its slope points to cheaper levels.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import PixcodecError
from ..exact.convs import PaddedConv2d
from ..exact.numerics import FLOAT
from .registry import PixelModel, build, register

LN2 = math.log(2.0)


class Encoder(nn.Module):
    def __init__(self, channels: int, hidden: int, factor: int, out: int, vector: bool, norm: bool = False):
        super().__init__()
        layers = [nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU()]
        for _ in range(int(math.log2(factor))):
            layers += [nn.Conv2d(hidden, hidden, 4, stride=2, padding=1), nn.ReLU()]
        layers += [nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(hidden, out) if vector else nn.Conv2d(hidden, out, 1)
        self.norm = nn.BatchNorm1d(out, affine=False) if vector and norm else None
        self.vector, self.factor = vector, factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) -> e (B, E), or a map (B, out, ceil(H/f), ceil(W/f))."""
        pad = (0, -x.shape[3] % self.factor, 0, -x.shape[2] % self.factor)
        if any(pad):       # replicate edges so any size works; decoders crop their output back
            x = F.pad(x.float(), pad, mode="replicate")
        h = self.body(x.float() * (2.0 / 255.0) - 1.0)              # (B, hidden, H/f, W/f)
        if not self.vector:
            return self.out(h)
        e = self.out(h.mean((2, 3)))                                  # (B, E)
        return e if self.norm is None else self.norm(e)


class SpatialNet(nn.Module):
    """m: code map (B, D, h, w) of levels -> condition s (B, S, h*f, w*f), in any arithmetic."""

    def __init__(self, codes: int, levels: int, factor: int, hidden: int, out: int):
        super().__init__()
        steps = int(math.log2(factor))
        self.convs = nn.ModuleList(PaddedConv2d(codes if k == 0 else hidden, hidden, 3, (1, 1, 1, 1))
                                   for k in range(max(steps, 1)))
        self.out = nn.Conv2d(hidden, out, 1)
        self.levels, self.steps = levels, steps

    def forward(self, levels: torch.Tensor, num=FLOAT) -> torch.Tensor:
        h = num.side_input(levels * (2.0 / (self.levels - 1)) - 1.0)         # (B, D, h, w) in [-1, 1]
        for k, conv in enumerate(self.convs):
            if k < self.steps:
                h = h.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)    # nearest, exact
            h = num.relu(num.conv(conv, h))
        return num.conv(self.out, h)                                          # (B, S, H', W')


class ConditionalDecoder(nn.Module):
    """p(x | latent): the spatial net (codes) and the conditional Gated PixelCNN, one module, so
    that one ExactNumerics covers both."""

    def __init__(self, pixelcnn: nn.Module, spatial: SpatialNet | None):
        super().__init__()
        self.pixelcnn, self.spatial = pixelcnn, spatial

    def condition(self, latent: torch.Tensor, height: int, width: int, num=FLOAT) -> torch.Tensor:
        """vector (B, E) as is; code map -> s (B, S, height, width)."""
        if self.spatial is None:
            return latent
        return self.spatial(latent, num)[:, :, :height, :width]


@register("pixelcnn_ae", autoregressive=False)
class PixelCNNAutoencoder(PixelModel):
    def __init__(self, in_channels: int, latent: str = "codes", levels: int = 8, latent_channels: int = 1,
                 factor: int = 4, embed: int = 32, spatial: int = 16, encoder_hidden: int = 64,
                 hidden: int = 48, layers: int = 8, out_hidden: int = 96, head: str = "softmax",
                 prior: str = "gated_pixelcnn", prior_hidden: int = 32, prior_layers: int = 4,
                 vector_norm: str = "none"):
        super().__init__(in_channels, dict(latent=latent, levels=levels, latent_channels=latent_channels, factor=factor,
                                           embed=embed, spatial=spatial, encoder_hidden=encoder_hidden, hidden=hidden,
                                           layers=layers, out_hidden=out_hidden, head=head, prior=prior,
                                           prior_hidden=prior_hidden, prior_layers=prior_layers,
                                           vector_norm=vector_norm))
        if vector_norm not in ("none", "batch") or (latent == "codes" and vector_norm != "none"):
            raise ValueError("vector_norm must be 'none', or 'batch' for a vector latent")
        if latent not in ("codes", "vector"):
            raise ValueError("latent must be 'codes' (discrete, codable) or 'vector' (continuous)")
        if factor < 1 or factor & (factor - 1) or not 2 <= levels <= 256 or latent_channels not in (1, 3):
            raise ValueError("need factor a power of two, 2 <= levels <= 256, latent_channels 1 or 3")
        codes = latent == "codes"
        self.latent, self.levels, self.factor = latent, levels, factor
        self.encoder = Encoder(in_channels, encoder_hidden, factor, latent_channels if codes else embed, not codes,
                               norm=vector_norm == "batch")
        pixelcnn = build("gated_pixelcnn", in_channels, hidden=hidden, layers=layers, out_hidden=out_hidden,
                         cond_channels=spatial if codes else embed, head=head)
        self.decoder = ConditionalDecoder(pixelcnn, SpatialNet(latent_channels, levels, factor, 32, spatial)
                                          if codes else None)
        self.prior = build(prior, latent_channels, hidden=prior_hidden, layers=prior_layers,
                           out_hidden=2 * prior_hidden) if codes else None
        self.register_buffer("symbols", torch.round(torch.arange(levels) * (255 / (levels - 1))).to(torch.uint8),
                             persistent=False)

    # --- the sender's side -------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x uint8 (B, C, H, W) -> vector (B, E), or continuous levels (B, D, ceil(H/f), ceil(W/f))."""
        out = self.encoder(x)
        # codes: centred on the middle level, unbounded; callers clamp (see forward)
        return out if self.latent == "vector" else out + (self.levels - 1) / 2

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """The discrete latent: levels (B, D, h, w) as uint8."""
        return self.encode(x).clamp(0, self.levels - 1).round().to(torch.uint8)

    def latent_values(self, height: int, width: int) -> int:
        """How many values z holds for an image of this size (0 for a vector, which is not coded)."""
        if self.latent == "vector":
            return 0
        f = self.factor
        return self.hparams["latent_channels"] * -(-height // f) * -(-width // f)

    def as_image(self, levels: torch.Tensor) -> torch.Tensor:
        """Levels -> the uint8 'image' the prior models."""
        return self.symbols[levels.long()]

    def from_image(self, image: torch.Tensor) -> torch.Tensor:
        """The prior's uint8 image -> levels; values off the level grid are refused."""
        table = torch.full((256,), -1, dtype=torch.long, device=image.device)
        table[self.symbols.long()] = torch.arange(self.levels)
        levels = table[image.long()]
        if int(levels.min()) < 0:
            raise PixcodecError("corrupt payload: a latent value off the code grid")
        return levels.to(torch.uint8)

    # --- the rate ---------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(bits(x | z), bits(z)) per image, differentiable: the training objective is their sum."""
        b, _, height, width = x.shape
        raw = latent = self.encode(x)
        if self.latent == "codes":
            # The decoder sees the clamped, rounded levels with the gradient passed straight
            # through both, so it can pull a code back from beyond an end. The rate sees a true
            # clamp, so it cannot push one past an end: a sigmoid here saturated, and a
            # straight-through clamp let the rate drive codes to -1e7, both dead latents.
            latent = raw + (raw.clamp(0, self.levels - 1).round() - raw).detach()
        cond = self.decoder.condition(latent, height, width)
        if self.training:   # the closed form where the decoder's head has one (heads.py)
            bits_x = self.decoder.pixelcnn(x, cond, nats=True).flatten(1).sum(1) / LN2
        else:
            logp = F.log_softmax(self.decoder.pixelcnn(x, cond).double(), dim=1)   # (B, 256, C, H, W)
            bits_x = -logp.gather(1, x.long()[:, None])[:, 0].flatten(1).sum(1) / LN2
        if self.latent == "vector":
            return bits_x, torch.zeros_like(bits_x)
        return bits_x, self._latent_bits(raw.clamp(0, self.levels - 1))

    def _latent_bits(self, latent: torch.Tensor) -> torch.Tensor:
        hard = latent.detach().round().long()                                 # (B, D, h, w)
        logits = self.prior(self.as_image(hard))                              # (B, 256, D, h, w)
        logp = F.log_softmax(logits.double() if not self.training else logits, dim=1)
        at_levels = logp[:, self.symbols.long()]                              # (B, L, D, h, w)
        exact = -at_levels.gather(1, hard[:, None])[:, 0]
        low = latent.detach().floor().clamp(0, self.levels - 2).long()
        a = latent - low
        surrogate = -((1 - a) * at_levels.gather(1, low[:, None])[:, 0] + a * at_levels.gather(1, low[:, None] + 1)[:, 0])
        bits = exact + (surrogate - surrogate.detach())
        return bits.flatten(1).sum(1) / LN2
