"""What the encoder may try on an image (``Levers``) and what each ``compress --effort`` names
(``EFFORTS``): the one description the codec, the CLI, the bench and the tests share. No torch,
so the CLI's help reads it before anything heavy is imported."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import IntEnum
from typing import TYPE_CHECKING

from .errors import PixcodecError

if TYPE_CHECKING:
    from .pxc import ChannelDeltas

# The channel fit's (Adam steps, epochs): the default, and effort 4's long visits (at half the rate).
FIT = (30, 10)
LONG_FIT = (300, 25)


class Search(IntEnum):
    """When the encoder also codes without its adaptive stage and without tuning, keeping the smaller."""
    NEVER = 0
    SMALL = 1       # on small images, where trying costs little and there is little to learn from
    ALWAYS = 2      # and every lever left out in turn, on any image


@dataclass(frozen=True)
class Levers:
    """Each is tried only where it pays for its header bytes; the decoder needs none of them, the
    file says what it uses. Off, a lever is never tried (a two-part file's latent has no room)."""
    fallback: bool = True       # store a tile raw where the model would spend 8 bits a subpixel or more
    value_sets: bool = True     # code a channel among the values it uses (adapt.py)
    sharpness: bool = True      # scale each tile's logits per channel
    palette: bool = True        # code an RGB image of few colours through its palette
    tuning: bool = True         # refit the predictive head's last layer (tune.py)
    deltas: "bool | ChannelDeltas" = True   # refit every layer's channels (channel_tuning.py); or code with these
    fit: tuple[int, int] = FIT  # the channel fit's (steps, epochs)
    cm: int = 0                 # the context-mixing revision to code through (pixcodec/cm), 0: none
    online: bool = True         # without context mixing: online mixing (pxc/online.py)
    search: Search = Search.NEVER

    def but(self, **changes) -> "Levers":
        """These levers with some changed."""
        return replace(self, **changes)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class Effort:
    """A ``compress --effort`` level: its tile side, its levers, and a line for the help."""
    tile: int
    levers: Levers
    says: str


# Context mixing's contexts read only their own tile and its counters learn the tiles in
# lockstep: tiles of 128 give it more of both, at about a third more decode time than 64.
EFFORTS = {
    1: Effort(64, Levers(tuning=False, deltas=False, online=False), "the model as trained"),
    2: Effort(128, Levers(tuning=False, deltas=False, cm=3), "+ context mixing"),
    3: Effort(128, Levers(cm=3, search=Search.SMALL),
              "+ every layer's channels and the head refitted to the image"),
    4: Effort(128, Levers(cm=3, search=Search.ALWAYS, fit=LONG_FIT),
              "+ a longer fit, and each lever left out in turn, keeping the smallest (slowest)"),
}
DEFAULT_EFFORT = 3


def effort_help() -> str:
    return "; ".join(f"{level}: {effort.says}" for level, effort in EFFORTS.items()) + ". Decoding needs no option."


def check_effort(effort: int) -> int:
    if effort not in EFFORTS:
        raise PixcodecError(f"effort must be {min(EFFORTS)} to {max(EFFORTS)}, not {effort}")
    return effort
