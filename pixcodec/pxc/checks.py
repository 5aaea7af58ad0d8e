"""What a decoder checks of a file's claims: the decode budget before anything is allocated, and
the decoded pixels against the header's checksum and mode."""
from __future__ import annotations

import torch

from ..errors import IntegrityError, PixcodecError
from .header import Header


def check_budget(header: Header, max_pixels: int | None) -> None:
    """Refuse, before anything is allocated, an image larger than the decode budget."""
    if max_pixels and header.height * header.width > max_pixels:
        raise PixcodecError(f"refusing to decode a {header.width}x{header.height} image "
                            f"({header.height * header.width / 1e6:.0f} megapixels): the limit is "
                            f"{max_pixels / 1e6:.0f} megapixels (raise it with --max-pixels)")


def checked(image: torch.Tensor, header: Header) -> torch.Tensor:
    """The decoded coded channels (C, H, W) as the image the header describes, once its pixels
    are shown to be what the header claims: the checksum (from version 10 over the samples the
    ``original`` section restores, so its planes are inflated here, after the decode budget and
    the pixels), and 0 or 255 only in a 1-bit image (the checksum does not cover the mode byte)."""
    if header.side.gray:
        image = image.expand(3, -1, -1).contiguous()
    if header.crc_of(image.numpy(), header.side.original) != header.pixel_crc:
        raise IntegrityError("corrupt .pxc file: the decoded pixels fail their checksum")
    if header.mode == "1" and not bool(((image == 0) | (image == 255)).all()):
        raise PixcodecError("corrupt .pxc file: a 1-bit image whose pixels are not all 0 or 255")
    return image
