"""Lossless image coding with any registered model: ``Codec(model).compress`` / ``.decompress``.

The encoder runs the decoder's own incremental computation (engine.run), teacher-forced,
in exact arithmetic, and both sides turn its logits into the coder's distributions through
one rule (``pxc.CodingStep``), so they see the same probabilities bit for bit whatever the
batching, thread count or machine. Tiles of one shape are coded in lockstep as one batch.
This module orchestrates: what a file means is ``pxc``'s, what the encoder chooses is
``encoder``'s (adapt.py, tune.py, channel_tuning.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .coder import SymbolDecoder, SymbolEncoder
from .defaults import DEFAULT_GROUP, DEFAULT_TILE, MAX_DECODE_PIXELS
from .encoder import channel_tuning, tune
from .encoder.adapt import MEASURE_ALL, Measure
from .errors import PixcodecError
from .exact import engine
from .exact.engine import cut, lockstep_parts, runs_ahead
from .exact.identity import model_id
from .exact.numerics import ExactNumerics, lazy_zeros
from .exact.tape import Tapes, taped
from .levers import DEFAULT_EFFORT, EFFORTS, Levers, Search, check_effort
from .progress import phase
from .pxc import (MAX_PIXELS, MAX_SIDE, MAX_TILES, ChannelDeltas, CodingStep, GrayRGB, Header, OnlineMixing,
                  Original, SideInfo, TunedHead, all_tiles, context_mixing, parse, plan_rows, tile_count, tiling_plan)
from .pxc.checks import check_budget, checked


@dataclass
class Compressed:
    data: bytes
    nll_bits: float          # what the coding's probabilities say the pixels cost (with context mixing, its decisions')
    subpixels: int
    stored_tiles: int = 0    # tiles kept raw because the model would spend more than 8 bits a subpixel
    latent_bits: float | None = None    # two-part files: the bits(z) share of nll_bits

    @property
    def bits_per_subpixel(self) -> float:
        return 8 * len(self.data) / self.subpixels


class Codec:
    """Codes images with one model. levers: what the encoder may try (levers.py), as keywords
    too: ``Codec(model, palette=False)`` is ``Codec(model, levers=Levers(palette=False))``.
    ``at_effort`` makes the codec ``compress --effort`` means. The levers stay attributes of the
    codec (``codec.deltas``), which ``levers`` reads back."""

    def __init__(self, model: nn.Module, tile: int = DEFAULT_TILE, group: int = DEFAULT_GROUP,
                 exact: ExactNumerics | None = None, levers: Levers = Levers(), **changes):
        """exact: arithmetic built over a module holding ``model`` and what computes its condition
        (the auto-encoder's decoder), so the model id covers both."""
        if not 1 <= tile < 1 << 16 or not 1 <= group < 1 << 16:
            raise PixcodecError("tile and group sizes must be between 1 and 65535")
        self.model = model.eval()
        self.exact = exact or ExactNumerics(model)
        self.id = model_id(model, self.exact)
        self.tile, self.group = tile, group
        for name, value in vars(levers.but(**changes)).items():
            setattr(self, name, value)
        self.tuning = self.tuning and TunedHead.tunable(model)
        # the adaptive stage the symbols go through: context mixing, or else online mixing
        mixing = context_mixing.section(int(self.cm)) if self.cm else None
        self.stage = {mixing.key: mixing} if mixing else {"online": OnlineMixing()} if self.online else {}

    @property
    def levers(self) -> Levers:
        return Levers(**{name: getattr(self, name) for name in Levers.names()})

    @classmethod
    def at_effort(cls, model: nn.Module, effort: int = DEFAULT_EFFORT, tile: int | None = None,
                  group: int = DEFAULT_GROUP, **changes) -> "Codec":
        """The codec ``compress --effort`` means (levers.EFFORTS), in tiles of ``tile`` (None: the
        effort's); changes: levers other than the effort's."""
        chosen = EFFORTS[check_effort(effort)]
        return cls(model, tile=tile or chosen.tile, group=group, levers=chosen.levers.but(**changes))

    def _gray_as_rgb(self, channels: int) -> bool:
        """An RGB model codes a gray image as R = G = B, coding only R: one model serves both."""
        return channels == 1 and self.model.in_channels == 3

    def _fits(self, channels: int) -> bool:
        return channels == self.model.in_channels or self._gray_as_rgb(channels)

    def rows(self, height: int, width: int) -> int:
        """Engine rows a compress or decompress of this size runs (for progress bars)."""
        return plan_rows(height, width, self.tile, self.group)

    def compress(self, image: torch.Tensor, mode: str | None = None, on_row=None,
                 original: Original | None = None) -> Compressed:
        """image: uint8 (C, H, W) with C = the model's channels; mode 'L', 'RGB' or '1'.
        original: what restoring the source file needs beyond these pixels (imageio.read_image)."""
        c, height, width = image.shape
        mode = mode or ("RGB" if c == 3 else "L")
        gray = mode == "RGB" and bool((image == image[:1]).all())     # R = G = B: code one channel
        if not self._fits(1 if gray else c):
            raise PixcodecError(f"the model codes {self.model.in_channels}-channel images, this one has {c}")
        if max(height, width) > MAX_SIDE or height * width > MAX_PIXELS:
            raise PixcodecError(f"a {width}x{height} image is beyond the format's limits "
                                f"({MAX_SIDE} a side, {MAX_PIXELS} pixels)")
        coded = image[:1] if gray else image
        streams, side, nll = self.encode_pixels(coded, on_row)
        header = self.header(mode, image, streams, side.replace(gray=GrayRGB() if gray else None, original=original))
        return Compressed(header.pack() + b"".join(streams) + stored_payload(coded, header), nll, image.numel(),
                          stored_count(side))

    def header(self, mode: str, image: torch.Tensor, streams: list[bytes], side: SideInfo,
               model_id: bytes | None = None) -> Header:
        """The header of a file of ``image`` coded as ``streams`` with ``side``."""
        header = Header(mode, model_id or self.id, image.shape[1], image.shape[2], self.tile, self.group, 0,
                        [len(s) for s in streams], side)
        header.pixel_crc = header.crc_of(image.contiguous().numpy(), side.original)
        return header

    def encode_pixels(self, image: torch.Tensor, on_row=None, cond: torch.Tensor | None = None):
        """(streams, SideInfo, the model's NLL in bits) for image (C, H, W); cond is a (1, F, H, W)
        condition map over the whole image, cut per tile like the pixels.

        Every layer's channels, then the model's last layer, are first refitted to the image when
        that pays (channel_tuning.py, tune.py). One pass then codes every tile and measures what
        stored tiles, value sets and per-tile sharpness would save (adapt.py); a second pass, only
        when some pay, codes with them, playing the network's outputs back from the first (tape.py).
        The NLL is that of the distributions the streams code."""
        c, height, width = image.shape
        if tile_count(height, width, self.tile) > MAX_TILES:
            raise PixcodecError(f"{self.tile}x{self.tile} tiles cut a {width}x{height} image into more than "
                                f"{MAX_TILES} tiles: use larger tiles")
        fitting = cond is None
        deltas = self.deltas if isinstance(self.deltas, ChannelDeltas) else \
            channel_tuning.fit(self.model, image, self.tile, self.exact, *self.fit, on_step=on_row) \
            if self.deltas and fitting else None
        if self.tuning and fitting:
            phase(on_row, "fitting the head", None)
        tuned = self._tuned(image, deltas) if self.tuning and fitting else None
        tapes: list = []            # the network's outputs per fit, for every pass under it (tape.py)
        result = self._encode_adapted(image, SideInfo(deltas=deltas, tuned=tuned, **self.stage), on_row, cond, tapes)
        # the fits judge on a sample and know nothing of value sets and palettes: where those are
        # used, or where a check is cheap, the untuned coding is tried too and the smaller kept (on
        # text, deltas fitted without value sets cost 31 %); a search tries every lever's absence
        others, small = [], image.numel() <= MEASURE_ALL
        if tuned is not None and (small or result[1].restriction is not None or self.search == Search.ALWAYS):
            others.append(SideInfo(deltas=deltas, **self.stage))
        if self.stage and (self.search == Search.ALWAYS or self.search == Search.SMALL and small):
            others += [SideInfo(deltas=deltas, tuned=tuned)] + ([SideInfo(deltas=deltas)] if tuned is not None else [])
        if deltas is not None and self.deltas is True and (result[1].restriction is not None or self.search == Search.ALWAYS):
            tuned_plain = self._tuned(image, None) if self.tuning else None
            others += [SideInfo(tuned=tuned_plain, **self.stage)] + \
                ([SideInfo(**self.stage)] if tuned_plain is not None else [])
        for n, other in enumerate(others):
            encoded = self._encode_adapted(image, other, on_row, cond, tapes, f"trying without a lever ({n + 1}/{len(others)})")
            if self._size(image, *encoded[:2]) <= self._size(image, *result[:2]):
                result = encoded
        return result

    def _tuned(self, image: torch.Tensor, deltas) -> TunedHead | None:
        """The head deltas that pay on top of these channel deltas (tune.py)."""
        model = self.model if deltas is None else channel_tuning.adapted(self.model, deltas)
        return tune.fit(model, image, self.tile, self.sharpness)

    def _encode_adapted(self, image: torch.Tensor, fitted: SideInfo, on_row, cond, tapes: list, label: str = "coding"):
        """``encode_pixels`` with the fitted sections (deltas, tuned head, online mixing) as they
        are: both passes."""
        c, height, width = image.shape
        measure = Measure(image, tile_count(height, width, self.tile), self.value_sets, self.sharpness, self.palette)
        tapes = taped(tapes, fitted)
        streams, nll, tile_bits = self._encode(image, fitted, phase(on_row, label, self.rows(height, width)), cond,
                                               measure, tapes)
        subpixels = {t.index: c * t.height * t.width for t in all_tiles(height, width, self.tile)}
        side = measure.decide(tile_bits, subpixels, self.fallback).replace(
            deltas=fitted.deltas, tuned=fitted.tuned, online=fitted.online, cm=fitted.cm, cm2=fitted.cm2, cm3=fitted.cm3)
        if side.stored is not None or side.restriction is not None or side.sharpness is not None:
            # the streams change; stored tiles still count at the model's cost
            streams, coded_nll, _ = self._encode(image, side, phase(on_row, f"{label}: second pass",
                                                                    self.rows(height, width)), cond, tapes=tapes)
            nll = coded_nll + sum(bits for k, bits in tile_bits.items() if side.stored is not None and side.stored.bits[k])
        return streams, side, nll

    def _size(self, image: torch.Tensor, streams: list[bytes], side: SideInfo) -> int:
        """Bytes of the pixel part of a file: header, streams and stored tiles."""
        header = self.header("RGB" if image.shape[0] == 3 else "L", image, streams, side)
        return header.size + sum(map(len, streams)) + header.payload_size()

    def _exact(self, side: SideInfo):
        """The arithmetic a file's side information codes with: the model's, or with its channels
        moved (``deltas``) and then its head tuned."""
        exact = self.exact
        for section, what in ((side.deltas, "channel deltas"), (side.tuned, "head deltas")):
            try:
                exact = exact if section is None else section.numerics(exact, self.model)
            except ValueError as e:
                raise PixcodecError(f"corrupt .pxc header: {what} that do not fit this model ({e})") from None
        return exact

    def _online(self, side: SideInfo, channels: int):
        """The file's online mixing state, fresh, or None."""
        return None if side.online is None else side.online.state(channels, self.exact)

    def _cm(self, side: SideInfo, shape: tuple[int, int, int], tile: int):
        """The file's context-mixing stage for coded (C, H, W), fresh, or None."""
        c, height, width = shape
        return None if side.mixing is None else side.mixing.stage((height, width, c), tile)

    def _encode(self, image: torch.Tensor, side: SideInfo, on_row, cond, measure: Measure | None = None,
                tapes: Tapes | None = None):
        """Streams of the tiles not stored, their total NLL in bits, and each tile's bits. tapes:
        the network's outputs under ``side``'s arithmetic, played back or recorded (tape.py)."""
        c, height, width = image.shape
        exact = self._exact(side)
        online, cm = self._online(side, c), self._cm(side, image.shape, self.tile)
        streams, nll, tile_bits = [], 0.0, {}
        for tiles in tiling_plan(height, width, self.tile, self.group, skipped(side)):
            encoder = SymbolEncoder() if cm is None else cm.start()
            parts, steps = [], [0]     # steps: wavefront steps done (the measure samples)
            bits = torch.zeros(len(tiles), dtype=torch.float64)
            ahead = runs_ahead(cm, c, tiles)
            for first, part in lockstep_parts(tiles, ahead):
                x = torch.stack([image[:, t.rows, t.cols] for t in part])
                step, last = CodingStep(side, self.exact, part, online, first == 0), first + len(part) >= len(tiles)

                def choose(logits, ch, rows, cols, x=x, step=step, last=last, first=first, encoder=encoder):
                    values = x[:, ch, rows, cols].reshape(-1)
                    dist, cost = step.encode(encoder, logits, ch, rows, cols, values)
                    if measure is not None:
                        measure.add(step.index, ch, steps[0], logits, dist.plain, values.long(), step.earlier[:ch])
                        steps[0] += last and ch == c - 1
                    if cost is not None:         # rows are batch-major
                        bits[first:first + len(step.index)] += cost.view(len(step.index), -1).sum(1)
                    return values
                taped = tapes.part(tuple(t.index for t in part)) if tapes is not None else (None, None)
                parts.append(engine.Part(len(part), choose, cut(cond, part), *taped))
            # gray through an RGB model: G = B = R, not coded
            engine.run_parts(self.model, exact, parts, tiles[0].height, tiles[0].width, on_row, coded=c, ahead=ahead)
            streams.append(encoder.finish())
            nll += float(bits.sum())
            tile_bits.update(zip([t.index for t in tiles], bits.tolist()))
        return streams, nll, tile_bits

    def decompress(self, data: bytes, on_row=None, max_pixels: int | None = MAX_DECODE_PIXELS
                   ) -> tuple[torch.Tensor, str]:
        """The exact pixels (uint8 (C, H, W)) and mode of a .pxc file made with this model.
        max_pixels: the decode budget (None: no limit)."""
        header, streams, raw = parse(data)
        check_budget(header, max_pixels)
        if header.side.latent:
            raise PixcodecError("this is a two-part file: decompress it with its auto-encoder checkpoint (-m)")
        if header.model_id != self.id:
            raise PixcodecError(f"this file was coded with another model (id {header.model_id.hex()}, "
                                f"this model is {self.id.hex()})")
        if not self._fits(header.coded_channels):
            raise PixcodecError(f"corrupt header: mode {header.mode} does not fit a "
                                f"{self.model.in_channels}-channel model")
        on_row = phase(on_row, "decoding", self.rows(header.height, header.width))
        return checked(self.decode_pixels(header, streams, raw, on_row), header), header.mode

    def decode_pixels(self, header: Header, streams: list[bytes], raw: bytes, on_row=None,
                      cond: torch.Tensor | None = None) -> torch.Tensor:
        """The pixels of a parsed file's streams and stored tiles (``encode_pixels`` reversed).
        Memory follows what decodes: the image's pages are committed as groups land in it."""
        side, channels = header.side, header.coded_channels
        image = lazy_zeros(channels, header.height, header.width, dtype=torch.uint8)
        exact = self._exact(side)
        plan = tiling_plan(header.height, header.width, header.tile, header.group, skipped(side))
        online, cm = self._online(side, channels), self._cm(side, image.shape, header.tile)
        for tiles, stream in zip(plan, streams):
            decoder, parts = SymbolDecoder(stream) if cm is None else cm.start(stream), []
            ahead = runs_ahead(cm, channels, tiles)
            for first, part in lockstep_parts(tiles, ahead):
                step = CodingStep(side, self.exact, part, online, first == 0)
                parts.append(engine.Part(len(part), lambda logits, ch, rows, cols, step=step, decoder=decoder:
                                         step.decode(decoder, logits, ch, rows, cols), cut(cond, part)))
            outs = engine.run_parts(self.model, exact, parts, tiles[0].height, tiles[0].width, on_row, coded=channels,
                                    ahead=ahead)
            if cm is not None:
                cm.end()
            for t, pixels in zip(tiles, (p for out in outs for p in out)):
                image[:, t.rows, t.cols] = pixels[:channels]
        if side.stored is not None:
            side.stored.place(raw, image, header.frame)
        return image


def skipped(side: SideInfo):
    """The tiles a file stores raw (one bool per tile), which the streams skip; None: none."""
    return None if side.stored is None else side.stored.bits


def stored_count(side: SideInfo) -> int:
    return 0 if side.stored is None else side.stored.count


def stored_payload(image: torch.Tensor, header: Header) -> bytes:
    """The stored tiles' pixels of the coded image (C, H, W), for the file's end."""
    return b"" if header.side.stored is None else header.side.stored.payload(image, header.frame)
