"""pixcodec: lossless image coding with autoregressive pixel models."""

__version__ = "0.1.0"
