"""Two-part lossless coding with a PixelCNN auto-encoder: ``TwoPartCodec(ae).compress`` /
``.decompress``, the same verbs and the same ``Compressed`` as ``Codec``.

The sender encodes x to its code map z (in float: only the sender runs the encoder), codes z
with the prior, then x with the decoder p(x | z). The receiver decodes z first, recomputes the
condition s = m(z) in exact arithmetic, then decodes x. Both parts run through the one decoding
engine, in one version-3 ``.pxc`` file (FORMAT.md): stream 0 is z, coded as a single tile, then
x's tiles exactly as a plain file's, stored-tile fallback included. The file costs
bits(z) + bits(x | z) plus the container's overhead.
"""
from __future__ import annotations

import hashlib
import json

import torch

from .codec import DEFAULT_GROUP, DEFAULT_TILE, MAX_DECODE_PIXELS, Codec, Compressed, stored_count, stored_payload
from .errors import PixcodecError
from .levers import Levers
from .progress import phase
from .pxc import MAX_PIXELS, MAX_SIDE, Header, Latent, parse
from .pxc.checks import check_budget, checked
from .exact.numerics import ExactNumerics


# The condition map s = m(z) is computed for the whole image at once (spatial x H x W float64),
# so a two-part file's budget is tighter than a plain one's.
TWO_PART_MAX_PIXELS = 1 << 24
# x given z adapts as a plain image does, less the channel fit (a two-part file carries no
# deltas); z is coded as the prior gives it
PIXELS = Levers(deltas=False)
FIXED = Levers(value_sets=False, sharpness=False, palette=False, deltas=False, online=False)


class TwoPartCodec:
    def __init__(self, ae, tile: int = DEFAULT_TILE, group: int = DEFAULT_GROUP, fallback: bool = True,
                 adapt: bool = True):
        """adapt: value sets and sharpness for the pixels (adapt.py), when they pay."""
        if ae.latent != "codes":
            raise PixcodecError("only an auto-encoder with a discrete latent (latent=codes) can code images; "
                                "this one has a continuous vector")
        self.ae = ae.eval()
        self.model = ae.decoder.pixelcnn                  # what callers ask in_channels of
        self.pixels = Codec(ae.decoder.pixelcnn, tile, group, exact=ExactNumerics(ae.decoder),
                            levers=PIXELS if adapt else FIXED, fallback=fallback)
        self.latents = Codec(ae.prior, tile=(1 << 16) - 1, group=1, levers=FIXED, fallback=False)
        # vector_norm came later and shapes only a vector latent, which codes nothing: ids made
        # before it keep their meaning without it
        hparams = {k: v for k, v in ae.hparams.items() if k != "vector_norm"}
        h = hashlib.sha256(json.dumps({"model": ae.registry_name, "channels": ae.in_channels,
                                       "hparams": hparams}, sort_keys=True).encode())
        h.update(self.pixels.id + self.latents.id)
        self.id = h.digest()[:16]
        self.tile, self.group = tile, group

    def rows(self, height: int, width: int) -> int:
        return self.pixels.rows(height, width)

    def _condition(self, levels: torch.Tensor, height: int, width: int) -> torch.Tensor:
        return self.ae.decoder.condition(levels[None].double(), height, width, self.pixels.exact)

    def compress(self, image: torch.Tensor, mode: str | None = None, on_row=None, original=None) -> Compressed:
        c, height, width = image.shape
        mode = mode or ("RGB" if c == 3 else "L")
        if c != self.ae.in_channels:
            raise PixcodecError(f"the auto-encoder codes {self.ae.in_channels}-channel images, this one has {c}")
        if max(height, width) > MAX_SIDE or height * width > MAX_PIXELS:
            raise PixcodecError(f"a {width}x{height} image is beyond the format's limits")
        with torch.no_grad():
            levels = self.ae.codes(image[None])[0]                           # (D, h, w) uint8
        if max(levels.shape[1:]) >= self.latents.tile:
            raise PixcodecError(f"a {width}x{height} image is too large for this auto-encoder's code map")
        z_streams, _, z_bits = self.latents.encode_pixels(self.ae.as_image(levels))
        streams, side, x_bits = self.pixels.encode_pixels(image, on_row, self._condition(levels, height, width))
        header = self.pixels.header(mode, image, z_streams + streams, side.replace(latent=Latent(), original=original), self.id)
        data = header.pack() + b"".join(z_streams + streams) + stored_payload(image, header)
        return Compressed(data, z_bits + x_bits, image.numel(), stored_count(side), latent_bits=z_bits)

    def decompress(self, data: bytes, on_row=None, max_pixels: int | None = MAX_DECODE_PIXELS
                   ) -> tuple[torch.Tensor, str]:
        header, streams, raw = parse(data)
        check_budget(header, max_pixels and min(max_pixels, TWO_PART_MAX_PIXELS))
        if not header.side.latent:
            raise PixcodecError("this file was not made by an auto-encoder: decompress it with its own model")
        if header.model_id != self.id:
            raise PixcodecError(f"this file was coded with another model (id {header.model_id.hex()}, "
                                f"this auto-encoder is {self.id.hex()})")
        if header.side.gray or header.channels != self.ae.in_channels:
            raise PixcodecError(f"corrupt header: mode {header.mode} does not fit this auto-encoder")
        f = self.ae.factor
        z_shape = (-(-header.height // f), -(-header.width // f))
        layout = Header("L" if self.ae.prior.in_channels == 1 else "RGB", self.latents.id, *z_shape,
                        self.latents.tile, 1, 0, header.stream_lengths[:1])      # one tile, one stream
        levels = self.ae.from_image(self.latents.decode_pixels(layout, streams[:1], b""))
        on_row = phase(on_row, "decoding", self.rows(header.height, header.width))
        image = self.pixels.decode_pixels(header, streams[1:], raw, on_row,
                                          self._condition(levels, header.height, header.width))
        return checked(image, header), header.mode

