"""A model's identity in a ``.pxc`` file: 16 bytes naming everything that decides its
probabilities (architecture, quantized weights, the arithmetic's tables), which the decoder checks."""
from __future__ import annotations

import hashlib
import json

import torch.nn as nn

from .numerics import ACT_BITS, EXP_BITS, ExactNumerics, exact_tables

# Hyperparameters added after files existed, with the value that builds the earlier architecture.
# At that value they are left out of the id, so every earlier file keeps its model's id.
ADDED_LATER = {"head": "softmax"}


def model_id(model: nn.Module, exact: ExactNumerics) -> bytes:
    """16 bytes naming everything that decides the probabilities: architecture, weights, arithmetic."""
    hparams = {k: v for k, v in model.hparams.items() if k not in ADDED_LATER or v != ADDED_LATER[k]}
    h = hashlib.sha256()
    h.update(json.dumps({"model": model.registry_name, "channels": model.in_channels, "hparams": hparams,
                         "act_bits": ACT_BITS, "exp_bits": EXP_BITS}, sort_keys=True).encode())
    for w, b, pad in exact.quantized():
        h.update(w.numpy().tobytes() + b.numpy().tobytes() + bytes(pad))
    for name in sorted(exact_tables()):
        h.update(exact_tables()[name].numpy().tobytes())
    return h.digest()[:16]
