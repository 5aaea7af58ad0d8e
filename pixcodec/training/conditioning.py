"""What a conditional model is conditioned on, as recorded in its checkpoint.

A class-conditional model (Conditional Image Generation with PixelCNN Decoders, section 2.3)
gets the one-hot label h as its ``cond``: each layer adds V h before its gates, a class bias
that is the same at every position. The checkpoint records the class names, so ``eval`` and
``sample --class`` need no dataset to know what label K means.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import PixcodecError


@dataclass(frozen=True)
class ClassCondition:
    classes: tuple[str, ...]

    @staticmethod
    def of_dataset(dataset) -> "ClassCondition":
        """The classes of a labelled dataset; unlabelled data is refused with one line."""
        labels = dataset.labels.tolist() if torch.is_tensor(dataset.labels) else list(dataset.labels)
        if not labels or min(labels) < 0:
            raise PixcodecError("--condition class needs labelled data: mnist, fashion-mnist, cifar10, "
                                "cifar10-npz with y_ arrays, or a folder with one subfolder per class")
        names = getattr(dataset, "classes", None) or [str(k) for k in range(max(labels) + 1)]
        return ClassCondition(tuple(names))

    @staticmethod
    def of_checkpoint(state: dict) -> "ClassCondition | None":
        saved = state.get("condition")
        return ClassCondition(tuple(saved["classes"])) if saved and saved.get("kind") == "class" else None

    def record(self) -> dict:
        return {"kind": "class", "classes": list(self.classes)}

    def __len__(self) -> int:
        return len(self.classes)

    def one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        """labels (B,) int -> h (B, K) float: the paper's one-hot class vector."""
        if int(labels.min()) < 0 or int(labels.max()) >= len(self):
            raise PixcodecError(f"class labels must lie in 0..{len(self) - 1}")
        return F.one_hot(labels.long(), len(self)).float()

    def label(self, name_or_index: str) -> int:
        """A class given by index or by name."""
        if name_or_index in self.classes:
            return self.classes.index(name_or_index)
        try:
            k = int(name_or_index)
        except ValueError:
            k = -1
        if not 0 <= k < len(self):
            raise PixcodecError(f"no class {name_or_index!r}: use 0..{len(self) - 1} or one of "
                                f"{', '.join(self.classes)}")
        return k
