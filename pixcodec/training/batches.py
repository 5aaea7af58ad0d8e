"""Batches as a pure function of (seed, step): what makes a resumed run see exactly the batches
the uninterrupted one would have.

Each epoch is a seeded permutation of the eligible images, each crop a seeded offset, each
symmetry drawn from the crop's seed. Under ``torchrun`` every rank takes its slice of each
global batch.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from ..errors import PixcodecError

AUGMENTS = {"none": 1, "flip": 2, "dihedral": 8}    # how many symmetries each draws from


class CroppedItems(torch.utils.data.Dataset):
    """Indexed by (image index, crop seed): the crop and its symmetry are decided by the seed alone.

    The symmetry is drawn after the crop offsets, so ``augment="none"`` sees exactly the
    crops that runs made before augmentation existed. Symmetry k of the dihedral group:
    bit 0 mirrors left-right, bit 1 top-bottom, bit 2 transposes (crops are square).
    """

    def __init__(self, dataset, crop: int | None, augment: str = "none"):
        if augment not in AUGMENTS:
            raise PixcodecError(f"unknown augmentation {augment!r} (none, flip or dihedral)")
        self.dataset, self.crop, self.symmetries = dataset, crop, AUGMENTS[augment]

    def __getitem__(self, item):
        index, crop_seed = item
        img, label = self.dataset[index]
        g = torch.Generator().manual_seed(crop_seed)
        if self.crop is not None:
            top = int(torch.randint(0, img.shape[1] - self.crop + 1, (), generator=g))
            left = int(torch.randint(0, img.shape[2] - self.crop + 1, (), generator=g))
            img = img[:, top:top + self.crop, left:left + self.crop]
        if self.symmetries > 1:
            img = symmetry(img, int(torch.randint(0, self.symmetries, (), generator=g)))
        return img, label


def symmetry(img: torch.Tensor, k: int) -> torch.Tensor:
    """Element k (0..7) of the square's symmetry group applied to a (C, H, W) image."""
    if k & 4:
        img = img.transpose(1, 2)
    dims = [d for bit, d in ((1, 2), (2, 1)) if k & bit]
    return (img.flip(dims) if dims else img).contiguous()


class StepBatches(torch.utils.data.Sampler):
    """Yields this rank's share of each global batch, for steps [start, stop)."""

    def __init__(self, eligible: list[int], global_batch: int, seed: int, start: int, stop: int,
                 rank: int = 0, world: int = 1):
        self.eligible, self.global_batch, self.seed = eligible, global_batch, seed
        self.start, self.stop, self.rank, self.world = start, stop, rank, world
        self.per_epoch = len(eligible) // global_batch

    @lru_cache(maxsize=2)
    def _permutation(self, epoch: int) -> torch.Tensor:
        return torch.randperm(len(self.eligible), generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch))

    def indices(self, step: int) -> list[int]:
        epoch, k = divmod(step, self.per_epoch)
        batch = self._permutation(epoch)[k * self.global_batch:(k + 1) * self.global_batch]
        local = self.global_batch // self.world
        return [self.eligible[i] for i in batch[self.rank * local:(self.rank + 1) * local].tolist()]

    def __iter__(self):
        for step in range(self.start, self.stop):
            yield [(i, hash((self.seed, step, i)) & 0x7FFFFFFF) for i in self.indices(step)]

    def __len__(self):
        return self.stop - self.start


def eligible_images(dataset, crop: int | None) -> list[int]:
    if crop is None:
        return list(range(len(dataset)))
    keep = [i for i in range(len(dataset)) if min(dataset.size(i)) >= crop]
    if not keep:
        raise PixcodecError(f"no training image is at least {crop}x{crop}; use a smaller --crop")
    return keep
