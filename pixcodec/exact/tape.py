"""The network's outputs of one encoding pass, kept for the next pass over the same tiles.

The encoder codes an image a second time when its first pass finds adaptations that pay
(adapt.py: sharpness, value sets, a palette, stored tiles). All of them act on the network's
logits; the network's own outputs are the same in both passes. So a state that can record
(``PixelCNNState``, the shipped architecture) hands every channel pass's head block, before it
is shaped into 256 logits, to a ``Tape``; the next pass's ``ReplayState`` plays them back in
the same order and shapes them again through the same ``head.shape``: the same logits bit for
bit, for the cost of the head's last step instead of the trunk's.

A head block is a few numbers a subpixel for the predictive head (4 for RGB: 32 bytes), 256
for a softmax head; ``Tapes`` stops recording, and keeps nothing, once a pass would hold more
than its budget, and the next pass then computes the network again.
"""
from __future__ import annotations

import torch

from .engine import pixel_inputs

TAPE_BYTES = 256 << 20          # 768x512 RGB through the bundled model: 38 MB


class Tape:
    """One engine part's head blocks (B*P, block) in the order its channel passes made them."""

    def __init__(self, tapes: "Tapes"):
        self.tapes, self.blocks, self.skew = tapes, [], None

    def attach(self, state) -> None:
        """Record what ``state`` computes; a state that cannot record leaves the pass's tapes void."""
        if hasattr(state, "record"):
            state.record, self.skew = self, state.skew
        else:
            self.tapes.drop()

    def state(self, model, num) -> "ReplayState":
        """A fresh state playing this tape back from its start."""
        return ReplayState(model, num, self)

    def __call__(self, raw: torch.Tensor) -> None:
        """Record one channel pass's block (a fresh tensor: kept, not copied)."""
        if self.tapes.recording:
            self.tapes.used += raw.numel() * raw.element_size()
            if self.tapes.used > self.tapes.budget:
                self.tapes.drop()
            else:
                self.blocks.append(raw)


class Tapes:
    """The tapes of every pass with one arithmetic, one per part, by the part's tiles: a later
    pass whose part holds other tiles (a tile stored raw leaves the plan) computes that part
    afresh, and records it."""

    def __init__(self, budget: int | None = None):
        self.budget, self.used, self.recording = TAPE_BYTES if budget is None else budget, 0, True
        self.parts: dict[tuple[int, ...], Tape] = {}

    def part(self, tiles: tuple[int, ...]) -> tuple[Tape | None, Tape | None]:
        """(record, replay) for a part of exactly these tiles (raster indices): the tape an
        earlier pass recorded, to play back, or else a fresh one to record; (None, None) once
        the budget is spent."""
        if not self.recording:
            return None, None
        if tiles in self.parts:
            return None, self.parts[tiles]
        self.parts[tiles] = Tape(self)
        return self.parts[tiles], None

    def drop(self) -> None:
        self.recording, self.parts = False, {}


class ReplayState:
    """A ``DecodingState`` that plays a tape back: per channel pass the next recorded block,
    shaped by the model's head as the recording state shaped it (the predictive head's
    context, read from the image, is the same: the encoder's image holds the true values)."""

    def __init__(self, model, num, tape: Tape):
        self.model, self.num, self.skew = model, num, tape.skew
        self.blocks = iter(tape.blocks)
        self.predicted = None

    def begin_step(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
        self.predicted = self.model.head.predictions(self.num, image, rows, cols)

    def logits(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, c: int,
               head: bool = True) -> torch.Tensor | None:
        if not head:
            return None
        return shaped(self.model, self.num, next(self.blocks), self.predicted, image, rows, cols, c)

    def pixels_done(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
        pass


def shaped(model, num, raw: torch.Tensor, predicted, image: torch.Tensor, rows: torch.Tensor,
           cols: torch.Tensor, c: int) -> torch.Tensor:
    """Channel c's logits (B*P, 256) from its head block (B*P, block) in activation units;
    predicted: the head's v(P) at the pixels (``head.predictions``), or None."""
    context = None if predicted is None else (predicted, pixel_inputs(num, image, rows, cols))
    return model.head.shape(raw, num, c, context)


def taped(cache: list, fitted) -> Tapes:
    """The tapes of passes under ``fitted``'s deltas and tuned head (the arithmetic; sharpness,
    value sets and the stages act after the network), from ``cache``: [(deltas, tuned, Tapes)]."""
    for deltas, tuned, tapes in cache:
        if deltas is fitted.deltas and tuned is fitted.tuned:
            return tapes
    cache.append((fitted.deltas, fitted.tuned, Tapes()))
    return cache[-1][2]
