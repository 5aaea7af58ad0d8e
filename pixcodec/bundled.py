"""The models that ship inside the package: what `compress`, `decompress` and `demo` use without -m.

``weights/*.pt`` are checkpoints from ``pixcodec train``, exported without
optimizer state (``pixcodec export``). Each file's SHA-256 is pinned below and
checked before ``torch.load(weights_only=True)`` reads it, so a damaged or
swapped file is refused instead of silently coding with other probabilities.
Each model's id (what a ``.pxc`` file names) is pinned beside it, so decoding a
file loads exactly the one model it names, and a build whose arithmetic would
give another id is refused rather than trusted.
The training recipes are in benchmarks/results/README.md.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn

from . import checkpoint
from .codec import DEFAULT_GROUP, Codec
from .levers import DEFAULT_EFFORT
from .errors import PixcodecError

WEIGHTS = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class Bundled:
    name: str
    file: str
    sha256: str
    model_id: str                   # the id its files name (exact/identity.py), hex
    modes: tuple[str, ...]          # image modes it is the default for; () = decodes old files only


# A model that once was a default stays here, decode-only, so the files it wrote still decode
# without -m: a file names its model by identity, and retiring the weights would strand them.
BUNDLED = (
    Bundled("photo-rgb", "photo_rgb_v6.pt", "7540654bfd75a12bb93913a28c16c57fcda27322354e1ce1a9b3c6e094f8709d",
            "e73fc5cbc33810eb0362c4a32a6184ba", ("RGB", "L", "1")),
    Bundled("photo-rgb-v5", "photo_rgb_v5.pt", "4c9b1c32efeb29813d0ff1e0845853d333583ed794f134c3d66b59f22d29da32",
            "9c2bc86ce05f1f6021a378b1be2ae5a9", ()),
    Bundled("photo-rgb-v4", "photo_rgb_v4.pt", "eb752066448d7be5c2dd3a9e910fe048fd2d22fac9412f41510efd695d9780ce",
            "850cbcffd69433863f709a921828dbe3", ()),
    Bundled("photo-rgb-v3", "photo_rgb_v3.pt", "f0eb91e873043bfef348434fa92cee2ed618bd2c053125cffe382d4eb2d02b93",
            "2c6e516ebd2d23020d8e04bf6a432e32", ()),
    Bundled("photo-rgb-v2", "photo_rgb_v2.pt", "059c9df3841ccab5531ad0266ebc6cf37d6d8cc29c29f2091abc2b1e62a49bbe",
            "a1ced5e33b6cca372f3a96aad3582690", ()),
    Bundled("photo-rgb-v1", "photo_rgb.pt", "be7d6e67fd626dfc924b2da4584b594f5a897e3ab2828ab3baa1c8af1dbad43f",
            "eb8b5f897338df8147debc41ff014839", ()),
)


def get(name: str) -> Bundled:
    for b in BUNDLED:
        if b.name == name:
            return b
    raise PixcodecError(f"no bundled model {name!r} (bundled: {', '.join(b.name for b in BUNDLED)})")


def for_mode(mode: str) -> Bundled:
    for b in BUNDLED:
        if mode in b.modes:
            return b
    raise PixcodecError(f"no bundled model codes {mode} images; pass a checkpoint with -m")


@functools.lru_cache(maxsize=None)
def load(name: str) -> nn.Module:
    b = get(name)
    path = WEIGHTS / b.file
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise PixcodecError(f"the bundled model file {path} is missing: reinstall pixcodec") from None
    if digest != b.sha256:
        raise PixcodecError(f"the bundled model file {path} is damaged (SHA-256 {digest[:16]}..., "
                            f"expected {b.sha256[:16]}...): reinstall pixcodec")
    return checkpoint.load_model(path, pinned=True)


@functools.lru_cache(maxsize=None)
def codec(name: str, tile: int | None = None, group: int = DEFAULT_GROUP, effort: int = DEFAULT_EFFORT) -> Codec:
    built = Codec.at_effort(load(name), effort, tile=tile, group=group)
    if built.id.hex() != get(name).model_id:
        raise PixcodecError(f"the bundled model {name} computes id {built.id.hex()}, not its pinned "
                            f"{get(name).model_id}: this build's arithmetic differs; reinstall pixcodec")
    return built


def codec_for_id(model_id: bytes) -> Codec | None:
    """The bundled model a .pxc file names, if any: only that one is loaded."""
    for b in BUNDLED:
        if b.model_id == model_id.hex():
            return codec(b.name)
    return None
