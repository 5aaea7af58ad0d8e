"""pixcodec: lossless image coding with autoregressive pixel models.

    import pixcodec
    data = pixcodec.compress(image)        # numpy uint8 (H, W) / (H, W, 3), bool (H, W), or a PIL image
    image = pixcodec.decompress(data)      # the same pixels, as a numpy array

Both use the bundled model unless given another (``model=`` a checkpoint path or a model).
"""

__version__ = "0.1.0"
__all__ = ["compress", "decompress", "codec_for", "__version__"]


def __getattr__(name: str):
    # torch loads only when the library is used, so `pixcodec --help` and `import pixcodec` stay quick
    if name in ("compress", "decompress", "codec_for"):
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'pixcodec' has no attribute {name!r}")
