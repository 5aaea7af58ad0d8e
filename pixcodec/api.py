"""The library's front door: ``pixcodec.compress(image)`` -> bytes, ``pixcodec.decompress(data)``
-> image, with the bundled model unless given another; and ``Codecs``, the choice of codec
that the CLI makes the same way.

Images are numpy arrays: (H, W) gray, (H, W, 2) gray + alpha, (H, W, 3) RGB or (H, W, 4) RGBA,
uint8 or uint16 (16-bit samples), or bool (H, W) 1-bit; or PIL images of mode L, RGB or 1.
Nothing is reduced: any other dtype, shape or mode is refused. Alpha and 16-bit samples travel
in the file's ``original`` section, as a PNG's would (pngfile.py).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from . import bundled, checkpoint
from .codec import DEFAULT_GROUP, DEFAULT_TILE, MAX_DECODE_PIXELS, Codec
from .levers import DEFAULT_EFFORT, check_effort
from .errors import PixcodecError
from .images.pngfile import read_png
from .pxc import Header, Original, parse
from .two_part import TwoPartCodec


def codec_for(model: nn.Module, tile: int | None = None, group: int = DEFAULT_GROUP,
              effort: int = DEFAULT_EFFORT) -> Codec | TwoPartCodec:
    """A pixel model codes images itself; an auto-encoder codes them in two parts (with the
    image-adaptive levers of effort 2 and up). tile: None for the effort's."""
    if model.autoregressive:
        return Codec.at_effort(model, effort, tile=tile, group=group)
    return TwoPartCodec(model, tile or DEFAULT_TILE, group, adapt=check_effort(effort) >= 2)


class Codecs:
    """The codec for each image: the given model (a checkpoint path or a module), else the
    bundled model for its mode (compress) or the bundled model its file names (decompress)."""

    def __init__(self, model: str | Path | nn.Module | None = None, tile: int | None = None,
                 group: int = DEFAULT_GROUP, effort: int = DEFAULT_EFFORT):
        self.tile, self.group, self.effort = tile, group, effort
        self.given = None
        if model is not None:
            module = model if isinstance(model, nn.Module) else checkpoint.load_model(model)
            self.given = codec_for(module, tile, group, effort)

    def for_mode(self, mode: str) -> Codec | TwoPartCodec:
        return self.given or bundled.codec(bundled.for_mode(mode).name, self.tile, self.group, self.effort)

    def for_file(self, header: Header) -> Codec | TwoPartCodec:
        if self.given:
            return self.given
        found = bundled.codec_for_id(header.model_id)
        if found is None:
            raise PixcodecError(f"coded with model {header.model_id.hex()}, which is not bundled: "
                                "pass its checkpoint with -m")
        return found


def compress(image, model: str | Path | nn.Module | None = None, *, tile: int | None = None,
             group: int = DEFAULT_GROUP, effort: int = DEFAULT_EFFORT) -> bytes:
    """The .pxc bytes of an image (see the module's docstring), coded losslessly.

    model: None for the bundled model, a checkpoint path, or a model module. effort: 1 to 4, as
    ``compress --effort`` (levers.EFFORTS); tile: None for the effort's;
    decoding needs no options."""
    pixels, mode, original = as_pixels(image)
    return Codecs(model, tile, group, effort).for_mode(mode).compress(pixels, mode, original=original).data


def decompress(data: bytes, model: str | Path | nn.Module | None = None,
               max_pixels: int | None = MAX_DECODE_PIXELS) -> np.ndarray:
    """The exact image of .pxc bytes: uint8 (H, W) gray, uint8 (H, W, 3) RGB, or bool (H, W) for
    a 1-bit image (``PIL.Image.fromarray`` takes each as it is). model: as for ``compress``;
    None finds the bundled model the file names. max_pixels: the decode budget (None: none), as
    Pillow's decompression-bomb limit; a file of a few bytes may claim a vast image."""
    header = parse(bytes(data))[0]
    pixels, mode = Codecs(model).for_file(header).decompress(bytes(data), max_pixels=max_pixels)
    return as_array(pixels, mode, header.side.original)


def as_pixels(image) -> tuple[torch.Tensor, str, Original | None]:
    """uint8 (C, H, W), mode ('L', 'RGB' or '1') and the ``original`` section, if any, of an array
    or PIL image, exactly."""
    if hasattr(image, "mode") and hasattr(image, "getbands"):        # a PIL image
        from .images.imageio import pixels_of
        return (*pixels_of(image, "image"), None)
    array = np.asarray(image)
    if array.ndim in (2, 3) and 0 in array.shape[:2]:
        raise PixcodecError(f"an empty image ({array.shape})")
    if array.dtype == np.bool_ and array.ndim == 2:
        return torch.from_numpy(array.astype(np.uint8) * 255)[None], "1", None
    if array.dtype not in (np.uint8, np.uint16):
        raise PixcodecError(f"an image array must be uint8 or uint16 (or bool for 1-bit), not {array.dtype}")
    planes = 1 if array.ndim == 2 else array.shape[2] if array.ndim == 3 else 0
    if planes not in (1, 2, 3, 4):
        raise PixcodecError(f"an image array must be (H, W) or (H, W, 2, 3 or 4 planes), not {array.shape}")
    if array.dtype == np.uint8 and planes in (1, 3):
        pixels = torch.from_numpy(array.copy())
        return (pixels[None], "L", None) if array.ndim == 2 else (pixels.permute(2, 0, 1).contiguous(), "RGB", None)
    # alpha or 16 bits: the same samples a PNG of them holds, read back as compress reads PNGs
    import png
    height, width = array.shape[:2]
    rows = array.reshape(height, width * planes)
    writer = png.Writer(width, height, greyscale=planes <= 2, alpha=planes in (2, 4), bitdepth=8 * array.itemsize)
    buffer = io.BytesIO()
    writer.write(buffer, rows)
    return read_png(buffer.getvalue(), "image")


def as_array(pixels: torch.Tensor, mode: str, original: Original | None = None) -> np.ndarray:
    """``as_pixels`` reversed, for arrays; a palette PNG's image comes back as its colours (and
    alphas, when it has tRNS), (H, W, 3 or 4)."""
    if original is not None:
        if original.color_type != 3:
            samples = original.samples(pixels.numpy())
            return samples[:, :, 0] if samples.shape[2] == 1 else samples
        colours = pixels.permute(1, 2, 0).numpy().copy()
        if not original.palette_alpha:
            return colours
        alpha = np.full(len(original.palette) // 3, 255, np.uint8)
        alpha[:len(original.palette_alpha)] = np.frombuffer(original.palette_alpha, np.uint8)
        return np.concatenate([colours, alpha[original.samples(pixels.numpy())]], axis=2)
    if mode == "1":
        return pixels[0].numpy() != 0
    return pixels[0].numpy().copy() if mode == "L" else pixels.permute(1, 2, 0).numpy().copy()
