"""Autoregressive pixel models behind one registry and one forward contract.

``model(x)`` takes uint8 images (B, C, H, W), C in {1, 3}, and returns float
logits (B, 256, C, H, W): ``F.cross_entropy(logits, x.long())`` is the exact
negative log-likelihood in nats. Subpixel order is raster over pixels and
R, G, B within a pixel; a subpixel's logits depend only on earlier subpixels.

Every model also exposes ``context_rows``: how many rows above a pixel can
influence it (None when the whole past can). Exact likelihoods of large images
are computed in bands with that much context.
"""
from .registry import all_names, build, check_hyperparameters, hyperparameters, names, register
from . import pixelcnn, gated_pixelcnn, row_lstm, diagonal_bilstm  # noqa: F401  (importing registers them)
from . import autoencoder, conv_autoencoder  # noqa: F401  (composites of the models above)

__all__ = ["all_names", "build", "check_hyperparameters", "hyperparameters", "names", "register"]
