"""The conventional auto-encoder that section 3.4 of "Conditional Image Generation with PixelCNN
Decoders" sets beside the PixelCNN auto-encoder: the same encoder and vector bottleneck, and a
deconvolutional decoder trained on squared error, i.e. a Gaussian of one learned scale per
channel around its output. It is a baseline to compare with, not a codec::

    x (B, C, H, W) --Encoder (autoencoder.py)--> e (B, E), standardized over the batch by default (vector_norm)
    e broadcast to (B, E, h, w), h = ceil(H/f), with two coordinate planes (a spatial
        broadcast, so any image size works) --3x3 conv, ReLU-->
        log2(f) x (4x4 transposed conv stride 2, ReLU) --3x3 conv--> mean (B, C, h*f, w*f),
        cropped to H x W

Its rate is that of the discretized Gaussian: subpixel k takes the mass of [k - 1/2, k + 1/2]
(the ends take the tails), so its bits/dim stand beside a pixel model's. With one scale per
channel the mean's gradient is the squared error's: the optimum mean is the MSE decoder's.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from .autoencoder import LN2, Encoder
from .registry import PixelModel, register


def discretized_gaussian_log_mass(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """ln P(x) per subpixel for x in 0..255 under N(mean, exp(log_scale)^2) binned at the integers.

    The mass of a bin is computed on the side of the mean's tail it lies in (mirrored when above
    the mean), as ln Phi(b) + ln(1 - Phi(a)/Phi(b)), so a far bin keeps its (tiny) mass instead of
    rounding to zero."""
    x = x.to(mean.dtype)
    inv = torch.exp(-log_scale)
    lo = torch.where(x == 0, -math.inf, (x - 0.5 - mean) * inv)
    hi = torch.where(x == 255, math.inf, (x + 0.5 - mean) * inv)
    above = (lo + hi) > 0                      # 0 always below, 255 always above: one infinite end each
    a, b = torch.where(above, -hi, lo), torch.where(above, -lo, hi)        # a < b, b near or below 0
    log_b, log_a = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
    return log_b + torch.log1p(-torch.exp(log_a - log_b).clamp(max=1 - 1e-7))


@register("conv_ae", autoregressive=False)
class ConvAutoencoder(PixelModel):
    latent = "vector"            # what callers ask of any auto-encoder; a conv_ae has no other

    def __init__(self, in_channels: int, factor: int = 4, embed: int = 32, encoder_hidden: int = 64,
                 hidden: int = 64, vector_norm: str = "batch"):
        super().__init__(in_channels, dict(factor=factor, embed=embed, encoder_hidden=encoder_hidden, hidden=hidden,
                                           vector_norm=vector_norm))
        if factor < 1 or factor & (factor - 1) or embed < 1 or hidden < 1 or vector_norm not in ("none", "batch"):
            raise ValueError("need factor a power of two, embed >= 1, hidden >= 1, vector_norm none or batch")
        self.factor = factor
        self.encoder = Encoder(in_channels, encoder_hidden, factor, embed, vector=True, norm=vector_norm == "batch")
        layers = [nn.Conv2d(embed + 2, hidden, 3, padding=1), nn.ReLU()]
        for _ in range(int(math.log2(factor))):
            layers += [nn.ConvTranspose2d(hidden, hidden, 4, stride=2, padding=1), nn.ReLU()]
        layers += [nn.Conv2d(hidden, in_channels, 3, padding=1)]
        self.decoder = nn.Sequential(*layers)
        self.log_scale = nn.Parameter(torch.full((in_channels,), math.log(32.0)))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x uint8 (B, C, H, W) -> e (B, E)."""
        return self.encoder(x)

    def mean(self, e: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """e (B, E) -> the decoder's output (B, C, height, width), in pixel units (0..255)."""
        h, w = -(-height // self.factor), -(-width // self.factor)
        rows = torch.linspace(-1, 1, h, device=e.device).view(1, 1, h, 1).expand(e.shape[0], 1, h, w)
        cols = torch.linspace(-1, 1, w, device=e.device).view(1, 1, 1, w).expand(e.shape[0], 1, h, w)
        grid = torch.cat([e[:, :, None, None].expand(-1, -1, h, w), rows, cols], 1)    # (B, E + 2, h, w)
        return 127.5 + 127.5 * self.decoder(grid)[:, :, :height, :width]

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's reconstruction of x as uint8 (B, C, H, W): its mean, rounded and clamped."""
        mean = self.mean(self.encode(x), x.shape[2], x.shape[3])
        return mean.round().clamp(0, 255).to(torch.uint8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(bits(x | e) under the discretized Gaussian, zeros) per image, as pixelcnn_ae's vector
        latent returns them; float64 outside training, as every evaluation."""
        if x.dtype != torch.uint8:
            raise TypeError(f"conv_ae takes uint8 images, not {x.dtype}")
        mean = self.mean(self.encode(x), x.shape[2], x.shape[3])
        log_scale = self.log_scale.view(1, -1, 1, 1)
        if not self.training:
            mean, log_scale = mean.double(), log_scale.double()
        bits = -discretized_gaussian_log_mass(x, mean, log_scale).flatten(1).sum(1) / LN2
        return bits, torch.zeros_like(bits)
