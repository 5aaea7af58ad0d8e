"""The incremental decoding engine: one loop that compress, decompress and sample all drive.

Naive autoregressive decoding runs the whole network once per subpixel. The
engine instead keeps every layer's activations in ``Canvas`` caches and computes
each layer only at the positions being decoded: a conv at a position is its
weights times the window of cached inputs around it.

It decodes in **wavefront** order. With a skew s, step t decodes every pixel with
j + s * i = t at once (row i runs s columns behind row i-1). A model's state names
the smallest s for which everything a pixel's windows read was finished at an
earlier step, so all pixels of a step are independent; H * W steps become
W + s * (H - 1), each a batch. A model plugs in by returning a ``DecodingState``
from ``model.incremental(num, batch, h, w, cond)``.

Two cache layouts serve the states: ``Canvas`` below (whole activation maps read
through index gathers, used by ``gated_pixelcnn``) and the sheared ring buffers of
``sheared.py`` (slices instead of gathers, a few columns of memory per layer,
past taps once per step and one trunk per RGB pixel, used by ``pixelcnn``, the
shipped architecture).

Run with ``ExactNumerics`` the results equal the full forward pass bit for bit
(exact arithmetic is order-free), which the tests check for every model. The
``choose`` callback decides each subpixel's value: the true value when encoding,
the decoded one when decoding, a draw when sampling.
"""
from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, NamedTuple, Protocol

import torch
import torch.nn as nn

from ..defaults import DEFAULT_GROUP
from .convs import geometry
from .numerics import lazy_zeros

# choose(logits (B*P, 256), channel, rows (P,), cols (P,)) -> values (B*P,) uint8
Choose = Callable[[torch.Tensor, int, torch.Tensor, torch.Tensor], torch.Tensor]


class DecodingState(Protocol):
    """What ``run`` drives: per wavefront step, ``begin_step``, then one ``logits`` call per
    channel in order, then ``pixels_done``. Positions (rows, cols) are P pixels of the step."""

    skew: int                   # the wavefront's s: every pixel of a step is independent of the others

    def begin_step(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
        """Work that reads only finished pixels: the same for every channel pass of the step."""

    def logits(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, c: int,
               head: bool = True) -> torch.Tensor | None:
        """(B*P, 256) logits of channel c, batch-major; channels < c of the pixels are in
        ``image``. head=False updates the caches only and returns None."""

    def pixels_done(self, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
        """Those P pixels are complete in ``image``."""


class Canvas:
    """A (B, C, H, W) activation map with a zero margin, read and written at sets of positions.

    Values go in and out batch-major: row b * P + p is image b at position p.
    """

    def __init__(self, batch: int, channels: int, height: int, width: int, margin: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"):
        self.margin = margin
        self.data = lazy_zeros(batch, channels, height + 2 * margin, width + 2 * margin, dtype=dtype).to(device)

    def write(self, rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor) -> None:
        b, m = self.data.shape[0], self.margin
        values = values.view(b, len(rows), -1).permute(0, 2, 1).to(self.data.dtype)   # exact: lossless
        self.data[:, :, rows + m, cols + m] = values

    def at(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """(B*P, C); the zero margin stands in for positions outside the image."""
        m = self.margin
        return self.data[:, :, rows + m, cols + m].permute(0, 2, 1).reshape(-1, self.data.shape[1])

    def windows(self, module: nn.Module, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """The input windows of ``module`` for output pixels (rows, cols) -> (B*P, C*kh*kw)."""
        (kh, kw), (left, _, top, _) = geometry(module)
        r = (rows - top + self.margin)[:, None] + _arange(kh)                        # (P, kh)
        c = (cols - left + self.margin)[:, None] + _arange(kw)                       # (P, kw)
        patches = self.data[:, :, r[:, :, None], c[:, None, :]]                       # (B, C, P, kh, kw)
        return patches.transpose(1, 2).reshape(-1, self.data.shape[1] * kh * kw)


@functools.lru_cache(maxsize=None)
def _arange(k: int) -> torch.Tensor:
    return torch.arange(k)


def margin_for(*modules: nn.Module) -> int:
    """The zero margin a canvas needs so that every window of these convs stays inside it."""
    return max(max(geometry(m)[1]) for m in modules)


def wavefront(height: int, width: int, skew: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(rows, cols) of each step: the pixels with col + skew * row = t, rows ascending."""
    for t in range(width + skew * (height - 1)):
        first, last = max(0, math.ceil((t - width + 1) / skew)), min(height - 1, t // skew)
        if first <= last:                      # narrow images leave some steps empty
            rows = torch.arange(first, last + 1)
            yield rows, t - skew * rows


@torch.no_grad()
def run(model: nn.Module, num, batch: int, height: int, width: int, choose: Choose,
        cond: torch.Tensor | None = None, on_row: Callable[[int], None] | None = None,
        coded: int | None = None) -> torch.Tensor:
    """Visit every subpixel in wavefront order (R, G, B within a pixel); return the uint8 image.

    Only the first ``coded`` channels (default: all) are chosen; later ones copy channel 0,
    which is how an RGB model runs a gray image: their passes still update the caches that
    later pixels read, but skip the head. ``on_row(i)`` is called as each row completes:
    progress bars hang on it."""
    return run_parts(model, num, [Part(batch, choose, cond)], height, width, on_row, coded)[0]


class Part(NamedTuple):
    batch: int
    choose: Choose
    cond: torch.Tensor | None = None
    record: object = None               # a tape.Tape the part's state records its head blocks to
    replay: object = None               # a tape.Tape played back instead of running the network


@torch.no_grad()
def run_parts(model: nn.Module, num, parts: list[Part], height: int, width: int,
              on_row: Callable[[int], None] | None = None, coded: int | None = None,
              ahead: bool = False) -> list[torch.Tensor]:
    """``run`` over a batch held as consecutive parts, each with its own state: every channel
    pass visits the parts in order, so the choices come in the order one batch of them all
    would make (batch-major), while a step's work and memory are one part's at a time. A part's
    state is made when the first step reaches it, so a stream that fails at once (a forged
    file) never costs the memory of the parts after it.

    ahead: the network computes the next part's logits in a second thread while this part's
    choices are made. The next part's logits read only that part's samples, all chosen before,
    so the choices and their order are those of one thread; a choice that releases the GIL
    (the context-mixing stage) then runs beside the network, which gets one torch thread fewer
    for the while (at least one)."""
    run = _PartStates(model, num, parts, height, width, model.in_channels if coded is None else coded)
    run.start(0)
    jobs = ((rows, cols, c, k) for rows, cols in wavefront(height, width, run.states[0].skew)
            for c in range(model.in_channels) for k in range(len(parts)))
    pool = ThreadPoolExecutor(1) if ahead and len(parts) > 1 else None
    threads = torch.get_num_threads()
    if pool is not None:                # the choices hold a core: the network gets the others
        torch.set_num_threads(max(1, threads - 1))
    pending, job = None, next(jobs)
    try:
        while job is not None:
            rows, cols, c, k = job
            logits = pending.result() if pending is not None else run.network(*job)
            job = next(jobs, None)
            pending = pool.submit(run.in_worker, *job) if pool is not None and job is not None else None
            if c < run.coded:
                run.images[k][:, c, rows, cols] = parts[k].choose(logits, c, rows, cols).view(parts[k].batch, -1)
            if on_row is not None and c == model.in_channels - 1 and k == len(parts) - 1 and int(cols[0]) == width - 1:
                on_row(int(rows[0]))
    finally:
        if pending is not None:        # a choice failed: the network stops before the states go
            pending.exception()
        if pool is not None:
            pool.shutdown()
            torch.set_num_threads(threads)
    return run.finish()


class _PartStates:
    """Each part's image and decoding state for ``run_parts``, made when the first step reaches it."""

    def __init__(self, model: nn.Module, num, parts: list[Part], height: int, width: int, coded: int):
        self.model, self.num, self.parts, self.height, self.width, self.coded = model, num, parts, height, width, coded
        self.images: list[torch.Tensor] = []
        self.states: list[DecodingState] = []
        self.done_at: list = []         # per part: the step whose pixels_done is still to come

    def start(self, k: int) -> None:
        part, model = self.parts[k], self.model
        self.images.append(lazy_zeros(part.batch, model.in_channels, self.height, self.width, dtype=torch.uint8))
        if part.replay is not None:
            self.states.append(part.replay.state(model, self.num))
        else:
            self.states.append(model.incremental(self.num, part.batch, self.height, self.width, part.cond))
            if part.record is not None:
                part.record.attach(self.states[-1])
        self.done_at.append(None)

    def network(self, rows, cols, c: int, k: int):
        """Part k's work at channel c of the step (rows, cols) before its choice: its logits."""
        if k == len(self.states):
            self.start(k)
        state, image = self.states[k], self.images[k]
        if c == 0:
            if self.done_at[k] is not None:
                state.pixels_done(image, *self.done_at[k])
            self.done_at[k] = rows, cols
            state.begin_step(image, rows, cols)
        if c < self.coded:
            return state.logits(image, rows, cols, c)
        image[:, c, rows, cols] = image[:, 0, rows, cols]
        state.logits(image, rows, cols, c, head=False)
        return None

    def in_worker(self, *job):
        with torch.no_grad():           # grad mode is per thread
            return self.network(*job)

    def finish(self) -> list[torch.Tensor]:
        for state, image, at in zip(self.states, self.images, self.done_at):
            if at is not None:
                state.pixels_done(image, *at)
        return self.images


def pixel_inputs(num, image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """The model's input values of the pixels at (rows, cols) -> (B*P, C)."""
    return num.input(image[:, :, rows, cols].permute(0, 2, 1).reshape(-1, image.shape[1]))


def pixel_rows(bias: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """A condition's (B, F, H|1, W|1) bias map at positions (rows, cols) -> (B*P, F)."""
    b = bias[:, :, rows.clamp(max=bias.shape[2] - 1), cols.clamp(max=bias.shape[3] - 1)]
    return b.transpose(1, 2).reshape(-1, bias.shape[1])


def teacher_forced(x: torch.Tensor) -> Choose:
    """A ``choose`` that replays known values: the encoder's side of the engine."""
    return lambda logits, c, rows, cols: x[:, c, rows, cols].reshape(-1)


@torch.no_grad()
def run_naive(model: nn.Module, num, batch: int, height: int, width: int, choose: Choose,
              cond: torch.Tensor | None = None, limit: int | None = None) -> torch.Tensor:
    """The reference the engine replaces: one full forward pass per subpixel.

    Raster order, one subpixel a step, with ``run``'s ``choose`` protocol; ``limit`` stops
    after that many subpixels (benchmarks time a prefix: every step costs the same).
    """
    channels = model.in_channels
    image = torch.zeros(batch, channels, height, width, dtype=torch.uint8)
    steps = 0
    for i in range(height):
        for j in range(width):
            for c in range(channels):
                if limit is not None and steps >= limit:
                    return image
                one = torch.tensor([i]), torch.tensor([j])
                logits = model(image, cond, num=num)[:, :, c, i, j]
                image[:, c, i, j] = choose(logits, c, *one)
                steps += 1
    return image


# Tiles a lockstep group runs through the model at once: a larger group (the file's choice) is
# run as consecutive parts of this many, in the same symbol order, so a step's memory stays bounded.
LOCKSTEP = DEFAULT_GROUP


def runs_ahead(cm, coded: int, tiles: list) -> bool:
    """Whether the network computes one part's logits beside the stage coding another's. Two
    parts cost two engine calls a step instead of one: that pays where the stage has a colour
    image's channels and at least 8 tiles a step to code (sail, 24 tiles of 128: 10.0 s against
    13.2 s), not on a gray image (mountain, 20 tiles: 9.3 against 8.7 s) nor on a few tiles."""
    return cm is not None and coded > 1 and len(tiles) >= 8


def lockstep_parts(tiles: list, ahead: bool = False) -> list[tuple[int, list]]:
    """A lockstep group as the consecutive parts (first tile's position, tiles) the engine runs;
    ahead: at least two where there are two tiles, so that the network computes one part's
    logits while the other's symbols are coded (the symbol order is the same)."""
    size = min(LOCKSTEP, (len(tiles) + 1) // 2) if ahead else LOCKSTEP
    return [(first, tiles[first:first + size]) for first in range(0, len(tiles), size)]


def cut(cond: torch.Tensor | None, tiles) -> torch.Tensor | None:
    """A whole image's (1, F, H, W) condition map as the batch of its tiles' windows."""
    if cond is None:
        return None
    return torch.cat([cond[:, :, t.rows, t.cols] for t in tiles])
