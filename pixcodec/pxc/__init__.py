"""The ``.pxc`` format: what a file means, for the encoder and the decoder alike (FORMAT.md).

- ``tiles``: how an image is cut into tiles and lockstep streams;
- ``sections``, ``value_sets``, ``tuned_head``, ``channel_deltas``, ``original``, ``metadata`` and
  ``context_mixing``: one class per optional header section;
- ``versions``: which version holds which sections;
- ``header``: the header, packed and parsed by loops over those;
- ``step``: the one rule turning a model's logits into the coder's distribution.

Reading and writing headers needs numpy only; torch loads with the coding step.

Encoder heuristics (what to store, which sections pay) live in pixcodec/encoder/.
"""
from .channel_deltas import ChannelDeltas
from .context_mixing import ContextMixing, ContextMixing2, ContextMixing3
from .original import Original
from .header import MAX_PIXELS, MAX_SIDE, MAX_TILES, MODES, Header, SideInfo, parse, restamped
from .metadata import Metadata
from .sections import Frame, GrayRGB, Latent, OnlineMixing, Section, Sharpness, StoredTiles
from .tuned_head import TunedHead
from .tiles import Tile, all_tiles, plan_rows, stream_count, tile_count, tiling_plan
from .value_sets import Options, Palette, ValueSets
from .versions import LAYOUT, NEWEST, VERSIONS, oldest_version

__all__ = ["MAX_PIXELS", "MAX_SIDE", "MAX_TILES", "MODES", "Header", "SideInfo", "parse", "Frame", "GrayRGB",
           "Latent", "Section", "Sharpness", "StoredTiles", "TunedHead", "CodingStep", "Distribution", "Tile",
           "all_tiles", "plan_rows", "stream_count", "tile_count", "tiling_plan", "Options", "Palette", "ValueSets", "LAYOUT",
           "NEWEST", "VERSIONS", "oldest_version", "Original", "MixState", "OnlineMixing",
           "ChannelDeltas", "ContextMixing", "ContextMixing2", "ContextMixing3", "Metadata", "restamped"]

_CODING = {"CodingStep": "step", "Distribution": "step", "MixState": "online"}


def __getattr__(name: str):
    # the coding step needs torch; reading a header (``pixcodec info``) does not load it
    if name in _CODING:
        import importlib
        return getattr(importlib.import_module(f".{_CODING[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
