"""Channel tuning: the encoder rescales and shifts every layer's output channels for the image.

Head tuning (tune.py) refits the last layer, but the trunk's features stay those of the average
training crop. A gain and a shift per output channel of every conv are two numbers a feature
(3,416 for the bundled photo model), few enough to carry in the file (about 1.5 KB as Rice
codes) and folded into the exact weights, so decoding costs nothing more. Fitted with a few
dozen Adam steps on the image's own tiles they move a photo's features where it needs them:
on the held-out training photos they save more than head tuning does
(benchmarks/results/README.md, "Channel deltas").

The fit sees the image as the codec does: whole tiles, each starting blind at its edges. A fifth
of the tiles (at most ``JUDGE_TILES``) is held out; the deltas are kept when the bits they save
there, scaled to the image, pay twice for their bytes. The float judge knows nothing of value
sets and palettes, so where the codec uses them it also codes the image without the deltas.
What the deltas mean, and how both sides fold them into the exact weights, is the format's
(``pxc.ChannelDeltas``).
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from ..exact.convs import conv_weight
from .. import levers
from ..exact.numerics import FLOAT, ExactNumerics, FloatNumerics, convs_of
from ..pxc import ChannelDeltas, all_tiles
from ..pxc.channel_deltas import GAIN_ONE, LIMIT, SHIFT_BITS
from ..progress import phase
from ..threads import one_thread, set_summed_gradients

# Adam on BATCH random tiles a step, each tile seen about EPOCHS times, STEPS steps at most: a
# 768x512 photo's fit takes about 15 s on 2 cores (its steps in bfloat16: FitNumerics). An image
# of up to 12 tiles to fit on gets the tile visits of the first fits (8 tiles, 60 steps, 10
# epochs); a larger one 120 visits, not 200 or more (benchmarks/results/README.md, "Encoder speed")
STEPS, EPOCHS = levers.FIT      # effort 4's longer fit (levers.LONG_FIT) runs at LR / 2
LR, BATCH = 0.02, 4
SHIFT_SCALE = 0.1               # shifts are fitted as 0.1 x a parameter, so one learning rate suits both
MIN_TILES = 5                   # whole tiles an image needs: one to judge on, four to fit
JUDGE_TILES = 24                # held-out tiles judged at most (the judging pass is the fit's cost too)
MAX_GAIN = 0.5                  # bits a subpixel the deltas might save at most, to skip hopeless fits
CHUNK = 16                      # tiles per float pass when judging
PIECES = 2                      # a step's batch is two pieces, each a core's (threads.pieces_map)


class FitNumerics(FloatNumerics):
    """Float arithmetic for the fit's gradient steps: convolutions in bfloat16, channels last,
    which oneDNN runs about 3 times faster on a CPU with bf16 units (benchmarks/results/README.md,
    "Encoder and decoder speed"). The gradients only steer the fit; what it fits is judged in
    float32 and then carried by the file, so decoding never sees this arithmetic."""

    def conv(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        weight, bias, pad = conv_weight(module)
        x = F.pad(x, pad) if any(pad) else x
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = F.conv2d(x.contiguous(memory_format=torch.channels_last), weight, bias)
        return out.float()


FIT = FitNumerics()


def _whole_tiles(image: torch.Tensor, tile: int) -> list[torch.Tensor]:
    """The image's whole tiles (C, tile, tile) in raster order, as the codec cuts them."""
    return [image[:, t.rows, t.cols] for t in all_tiles(*image.shape[1:], tile) if t.height == t.width == tile]


class _Reparametrised:
    """The model with every conv's rows times (1 + gain) and biases times (1 + gain) plus shift,
    gains and shifts as free tensors, without touching the model."""

    def __init__(self, model: nn.Module, gray: bool):
        self.model, self.gray = model, gray
        convs = set(convs_of(model))
        self.convs = [(name, module) for name, module in model.named_modules() if module in convs]
        self.gains = [torch.zeros(conv_weight(m)[0].shape[0], requires_grad=True) for _, m in self.convs]
        self.shifts = [torch.zeros_like(g, requires_grad=True) for g in self.gains]

    def replica(self) -> "_Reparametrised":
        """The same free gains and shifts over a copy of the model: ``functional_call`` swaps
        tensors into the module it runs, so threads each need their own."""
        twin = copy.copy(self)
        twin.model = copy.deepcopy(self.model)
        convs = dict(twin.model.named_modules())
        twin.convs = [(name, convs[name]) for name, _ in self.convs]
        return twin

    def params(self, gains, shifts) -> dict[str, torch.Tensor]:
        out = {}
        for (name, module), g, d in zip(self.convs, gains, shifts):
            conv = module.conv if hasattr(module, "mask") else module
            prefix = f"{name}.conv." if hasattr(module, "mask") else (f"{name}." if name else "")
            out[prefix + "weight"] = conv.weight.detach() * (1 + g)[:, None, None, None]
            if conv.bias is not None:     # (a conv without one has no shift in float: it only fits worse)
                out[prefix + "bias"] = conv.bias.detach() * (1 + g) + d
        return out

    def fitted(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        return self.gains, [d * SHIFT_SCALE for d in self.shifts]

    def nats(self, tiles: torch.Tensor, gains, shifts, num=FLOAT) -> torch.Tensor:
        """-ln p per coded subpixel (B, C', h, w); a gray image is R = G = B with only R coded."""
        x = tiles.expand(-1, 3, -1, -1) if self.gray else tiles
        out = functional_call(self.model, self.params(gains, shifts), (x,), {"nats": True, "num": num})
        return out[:, :1] if self.gray else out


def _gradients(net: _Reparametrised, tiles: torch.Tensor, count: int) -> tuple[torch.Tensor, ...]:
    """The gradients of these tiles' share of a batch's mean nats (``count`` subpixels)."""
    with torch.enable_grad():          # grad mode is per thread
        loss = net.nats(tiles, *net.fitted(), num=FIT).sum() / count
        return torch.autograd.grad(loss, net.gains + net.shifts)


def _bits(net: _Reparametrised, tiles: torch.Tensor, gains, shifts) -> float:
    with torch.no_grad():
        return sum(float(net.nats(tiles[i:i + CHUNK], gains, shifts).double().sum())
                   for i in range(0, len(tiles), CHUNK)) / math.log(2)


@one_thread
def fit(model: nn.Module, image: torch.Tensor, tile: int, exact: ExactNumerics,
        steps: int = STEPS, epochs: int = EPOCHS, on_step=None) -> ChannelDeltas | None:
    """The section of channel deltas that pays for its bytes on ``image`` (C, H, W: the coded
    channels), or None. Deterministic for a given image, at any thread count (one_thread). A fit longer than
    ``STEPS`` (each tile seen up to ``epochs`` times) takes half the learning rate. ``on_step``:
    a progress callback (progress.py)."""
    gray = image.shape[0] == 1 and model.in_channels == 3
    count = ChannelDeltas.channel_count(model)
    if (image.shape[0] != model.in_channels and not gray) or 2 * count >= 1 << 16:
        return None
    if image.numel() * MAX_GAIN < 2 * 2 * count:         # cannot pay even at a bit a value: skip
        return None
    tiles = _whole_tiles(image, tile)
    if len(tiles) < MIN_TILES:
        return None
    tiles = torch.stack(tiles)                                                      # (T, C, tile, tile)
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(tiles), generator=generator)
    judged = min(JUDGE_TILES, len(tiles) // 5)
    check, train = tiles[order[:judged]], tiles[order[judged:]]
    net = _Reparametrised(model, gray)
    optimizer = torch.optim.Adam(net.gains + net.shifts, lr=LR if steps <= STEPS else LR / 2)
    steps = min(steps, math.ceil(epochs * len(train) / BATCH))
    on_step = phase(on_step, "fitting channels", steps)
    nets = [net] + [net.replica() for _ in range(PIECES - 1)]
    for step in range(steps):
        batch = train[torch.randint(len(train), (BATCH,), generator=generator)]
        pieces = list(zip(nets, batch.chunk(PIECES)))
        set_summed_gradients(net.gains + net.shifts, lambda p: _gradients(*p, batch.numel()), pieces)
        optimizer.step()
        on_step(step)
    gains, shifts = net.fitted()
    deltas = ChannelDeltas(torch.cat([(g.detach() * GAIN_ONE).round() for g in gains]).clamp(-LIMIT, LIMIT),
                           torch.cat([(d.detach() * (1 << SHIFT_BITS)).round() for d in shifts]).clamp(-LIMIT, LIMIT))
    if not (deltas.gains.any() or deltas.shifts.any()):
        return None
    try:
        deltas.numerics(exact, model)
    except ValueError:             # a layer pushed past the exact bounds: not worth a special case
        return None
    before = _bits(net, check, [torch.zeros_like(g) for g in gains], [torch.zeros_like(d) for d in shifts])
    after = _bits(net, check, *_as_floats(deltas, gains))
    saving = (before - after) * image.numel() / check.numel()
    return deltas if saving > 2 * 8 * deltas.size() else None


def _as_floats(deltas: ChannelDeltas, like: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The quantized gains and shifts, split per conv as ``like``, as the float model's factors."""
    sizes = [len(g) for g in like]
    return (list((deltas.gains.float() / GAIN_ONE).split(sizes)),
            list((deltas.shifts.float() / (1 << SHIFT_BITS)).split(sizes)))


def adapted(model: nn.Module, deltas: ChannelDeltas) -> nn.Module:
    """A float copy of ``model`` with the deltas applied: what the head tuning (tune.py) then fits on."""
    net = _Reparametrised(model, False)
    params = net.params(*_as_floats(deltas, net.gains))
    copied = copy.deepcopy(model)
    with torch.no_grad():
        for name, value in params.items():
            copied.get_parameter(name).copy_(value)
    return copied
