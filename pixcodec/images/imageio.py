"""Reading images for exact coding and writing decoded ones: every pixel kept or a clear refusal.

Training data may be converted freely (data.py); an image handed to the codec may not.
Gray (L) and RGB are coded as they are, 1-bit images as gray 0/255 and restored to
1-bit; palette, alpha and high-bit-depth images are refused rather than altered.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .atomic import atomic_write, read_file  # noqa: F401 (read_file: its old home)
from ..errors import PixcodecError
from .pngfile import is_png, read_png
from ..pxc import Original

REFUSED = {
    "P": "palette images are not supported yet; convert to RGB first",
    "PA": "palette images with alpha are not supported yet",
    "LA": "images with alpha are not supported yet; drop the alpha channel first",
    "RGBA": "images with alpha are not supported yet; drop the alpha channel first",
}


def read_image(path: str | Path) -> tuple[torch.Tensor, str, Original | None]:
    """uint8 (C, H, W), the mode ('L', 'RGB' or '1') and what else restoring the file needs (a
    PNG's depth, alpha, palette, transparency: ``pxc.Original``; None for none) of an image file,
    exactly. PNGs are read by pypng (pngfile.py), which keeps every sample; other formats by
    Pillow, refusing what it would reduce."""
    return image_from_bytes(read_file(path), path)


def image_from_bytes(data: bytes, name) -> tuple[torch.Tensor, str, Original | None]:
    """``read_image`` of a file's bytes (standard input, say); ``name`` for messages."""
    try:
        if is_png(data[:8]):
            return read_png(data, name)
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return (*pixels_of(img, name), None)
    except Image.UnidentifiedImageError:
        raise PixcodecError(f"cannot read image {name}: not a PNG, JPEG, TIFF, BMP, WebP or PNM image") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise PixcodecError(f"cannot read image {name}: {e}") from None


def is_jpeg(data: bytes) -> bool:
    return data[:3] == b"\xff\xd8\xff"


def pixels_of(img: Image.Image, name) -> tuple[torch.Tensor, str]:
    """uint8 (C, H, W) and the mode of a loaded PIL image, exactly; ``name`` for messages."""
    mode = img.mode
    if mode in REFUSED:
        raise PixcodecError(f"{name}: mode {mode}: {REFUSED[mode]}")
    if mode not in ("L", "RGB", "1"):
        raise PixcodecError(f"{name}: mode {mode} is not supported (8-bit gray, RGB or 1-bit only; "
                            "16-bit and float images are refused)")
    t = torch.from_numpy(np.asarray(img.convert("L") if mode == "1" else img).copy())
    return (t[None] if t.dim() == 2 else t.permute(2, 0, 1).contiguous()), mode


def png_bytes(image: torch.Tensor, mode: str) -> bytes:
    """PNG encoding of uint8 (C, H, W) in ``mode``."""
    arr = image.permute(1, 2, 0).numpy() if image.shape[0] == 3 else image[0].numpy()
    img = Image.fromarray(arr, "RGB" if image.shape[0] == 3 else "L")
    if mode == "1":
        img = img.convert("1")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def refuse_existing(path: str | Path, force: bool) -> None:
    """Outputs never replace a file without --force (checked before work as well as at write)."""
    if Path(path).exists() and not force:
        raise PixcodecError(f"{path} exists (use -f/--force to overwrite)")


def write_new(path: Path, data: bytes, force: bool) -> None:
    """Write atomically; an existing file is replaced only with ``force``."""
    refuse_existing(path, force)
    if path.is_dir():
        raise PixcodecError(f"{path} is a directory")
    if not path.parent.is_dir():
        raise PixcodecError(f"cannot write {path}: no such directory {path.parent}")
    try:
        with atomic_write(path, exclusive=not force) as f:
            f.write(data)
    except FileExistsError:            # created by someone else while we worked
        raise PixcodecError(f"{path} exists (use -f/--force to overwrite)") from None
    except OSError as e:               # name the output, not the temporary file beside it
        raise PixcodecError(f"cannot write {path}: {e.strerror or e}") from None


def expand_inputs(inputs: list[str], suffixes: set[str]) -> list[tuple[Path, Path]]:
    """(file, path relative to the named input) for files and for folders searched recursively."""
    found = []
    for name in inputs:
        p = Path(name)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in suffixes)
            if not files:
                raise PixcodecError(f"no {'/'.join(sorted(suffixes))} files under {p}")
            found += [(f, f.relative_to(p)) for f in files]
        else:
            found.append((p, Path(p.name)))
    return found

