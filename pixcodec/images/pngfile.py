"""PNG files read and written sample for sample, through pypng: every colour type and bit depth,
interlaced or not, palettes, alpha and tRNS transparency.

Pillow cannot be trusted with this: it reduces 16-bit RGB to 8 bits on open, forgets tRNS
colour keys, and accepts an IDAT whose checksum is wrong. pypng keeps every sample and checks
every chunk's CRC. What the model does not code (see ``pxc.Original``) travels beside it.
Ancillary chunks that describe the pixels (colour, text, EXIF) travel in ``pxc.Metadata``
(formats.py); the rest (a truecolour image's suggested palette, say) are not kept.
"""
from __future__ import annotations

import io

import numpy as np
import png
import torch
from PIL import Image

from ..errors import PixcodecError
from ..pxc.original import DEPTHS, Original

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_INPUT_PIXELS = 2 * Image.MAX_IMAGE_PIXELS      # where Pillow raises DecompressionBombError


def is_png(data: bytes) -> bool:
    return data[:8] == SIGNATURE


def read_png(data: bytes, name) -> tuple[torch.Tensor, str, Original | None]:
    """The coded pixels (C, H, W) uint8, their mode, and what restoring the file needs (None for
    an 8-bit gray or RGB PNG, or a 1-bit gray one, without transparency: nothing beyond them)."""
    try:
        reader = png.Reader(bytes=data)
        reader.preamble()
        if reader.width * reader.height > MAX_INPUT_PIXELS:    # as Pillow refuses a decompression bomb
            raise PixcodecError(f"{name}: a {reader.width}x{reader.height} PNG is more than the "
                                f"{MAX_INPUT_PIXELS} pixels pixcodec reads")
        width, height, rows, info = reader.read()
        planes = info["planes"]
        values = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, planes)
    except (png.Error, ValueError, EOFError, OSError, IndexError, KeyError) as e:
        raise PixcodecError(f"cannot read PNG {name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    color_type, depth = reader.color_type, reader.bitdepth
    if depth not in DEPTHS.get(color_type, ()):
        raise PixcodecError(f"cannot read PNG {name}: colour type {color_type} at {depth} bits")
    if color_type == 3:
        return _palette(values[:, :, 0], depth, reader, name)
    colour = 3 if color_type in (2, 6) else 1
    samples = values[:, :, :colour].transpose(2, 0, 1)                                   # (C, H, W)
    alpha = values[:, :, colour] if color_type in (4, 6) else None
    key = info.get("transparent")
    key = None if key is None else tuple(key) if isinstance(key, (tuple, list)) else (int(key),)
    if key is not None and max(key) >> depth:         # it can match no sample, and no writer may keep it
        raise PixcodecError(f"{name}: a tRNS colour key {key[0] if len(key) == 1 else key} beyond its {depth}-bit "
                            "samples (an invalid PNG)")
    mode = "RGB" if colour == 3 else "1" if depth == 1 else "L"
    if depth == 16:
        pixels, low = (samples >> 8).astype(np.uint8), (samples & 255).astype(np.uint8)
    else:
        pixels, low = (samples * (255 // ((1 << depth) - 1))).astype(np.uint8), None
        alpha = None if alpha is None else alpha.astype(np.uint8)
    original = None
    if depth not in (1, 8) or alpha is not None or key is not None:
        original = Original(color_type, depth, low, alpha, key=key)
    return torch.from_numpy(np.ascontiguousarray(pixels)), mode, original


def _palette(indices: np.ndarray, depth: int, reader, name) -> tuple[torch.Tensor, str, Original]:
    entries = reader.palette()                          # 3- or 4-tuples (4 when tRNS is present)
    colours = np.array([e[:3] for e in entries], dtype=np.uint8)
    if (indices >= len(colours)).any():
        raise PixcodecError(f"cannot read PNG {name}: a palette index beyond its {len(colours)} colours")
    trns = bytes(getattr(reader, "trns", None) or b"")
    repeats = len({tuple(c) for c in colours.tolist()}) < len(colours)
    original = Original(3, depth, palette=colours.tobytes(), palette_alpha=trns,
                        indices=indices.astype(np.uint8) if repeats else None)
    pixels = colours[indices].transpose(2, 0, 1)                                          # (3, H, W)
    return torch.from_numpy(np.ascontiguousarray(pixels)), "RGB", original


def write_png(pixels: torch.Tensor, original: Original) -> bytes:
    """The PNG a decoded image and its ``original`` section restore, every sample at its depth."""
    samples = original.samples(pixels.numpy())                                           # (H, W, planes)
    height, width, planes = samples.shape
    options = {"bitdepth": original.depth}
    if original.color_type == 3:
        alpha = list(original.palette_alpha) + [255] * (len(original.palette) // 3 - len(original.palette_alpha))
        colours = np.frombuffer(original.palette, np.uint8).reshape(-1, 3).tolist()
        options["palette"] = [tuple(c) + ((a,) if original.palette_alpha else ()) for c, a in zip(colours, alpha)]
    else:
        options["greyscale"] = original.color_type in (0, 4)
        options["alpha"] = original.color_type in (4, 6)
        if original.colour_key is not None:
            key = original.colour_key
            options["transparent"] = key[0] if len(key) == 1 else key
    buffer = io.BytesIO()
    png.Writer(width, height, **options).write(buffer, samples.reshape(height, width * planes))
    return buffer.getvalue()
