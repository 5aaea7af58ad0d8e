"""Exact arithmetic: identical results whatever the batching or threads, and close to float."""
import hashlib
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pixcodec.exact import tables as tables_module
from pixcodec.exact.numerics import ACT_BITS, ExactNumerics, exact_tables

from conftest import tiny_model

# The tables are part of the coded-file contract: a platform that builds different ones
# would decode differently, so their exact bytes are pinned here.
TABLE_SHA256 = {"exp": "68be358b766f95c0", "input": "7037c0e3fbb5dbdc",
                "sigmoid": "8d55110ccd3b2ecc", "tanh": "76a3aa0643499412"}


def test_tables_are_pinned_and_accurate():
    tables = exact_tables()
    for name, digest in TABLE_SHA256.items():
        assert hashlib.sha256(tables[name].numpy().tobytes()).hexdigest()[:16] == digest, name
    step = 2.0 ** -ACT_BITS
    xs = torch.arange(-8 / step, 8 / step + 1, dtype=torch.float64) * step
    assert (tables["tanh"] - torch.tanh(xs)).abs().max() <= step / 2 + 1e-12
    assert (tables["sigmoid"] - torch.sigmoid(xs)).abs().max() <= step / 2 + 1e-12
    assert torch.equal(tables["tanh"], -tables["tanh"].flip(0))
    assert (tables["exp"].diff() <= 0).all() and tables["exp"].min() >= 1
    pixels = torch.arange(256, dtype=torch.float64)
    assert (tables["input"] - (2 * pixels - 255) / 255).abs().max() <= step / 2



def test_shipped_tables_are_the_built_ones():
    """The package ships the tables to save building them at every start: the file must hold
    exactly what the integer recurrence builds, and its digest is the one the loader expects."""
    built, shipped = tables_module.build(), tables_module._shipped()
    assert shipped is not None and sorted(shipped) == sorted(built)
    for name in built:
        assert torch.equal(shipped[name], built[name]), name
    assert tables_module.digest(built) == tables_module.DIGEST


def test_a_damaged_shipped_file_is_not_used(tmp_path, monkeypatch):
    with open(tables_module.SHIPPED, "rb") as f:
        stored = dict(np.load(f))
    stored["exp"][7] += 1                       # one entry off by one: still a valid file
    damaged = tmp_path / "exact_tables.npz"
    np.savez_compressed(damaged, **stored)
    for path in (damaged, tmp_path / "missing.npz", tmp_path):
        monkeypatch.setattr(tables_module, "SHIPPED", path)
        assert tables_module._shipped() is None
    monkeypatch.setattr(tables_module, "_TABLES", {})
    assert tables_module.digest(tables_module.exact_tables()) == tables_module.DIGEST    # built instead

@pytest.mark.parametrize("channels", [1, 3])
def test_exact_forward_ignores_batching_and_threads(model_name, channels):
    model = tiny_model(model_name, channels)
    exact = ExactNumerics(model)
    x = torch.randint(0, 256, (9, channels, 6, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    threads = torch.get_num_threads()
    try:
        with torch.no_grad():
            torch.set_num_threads(1)
            alone = torch.cat([model(x[i:i + 1], num=exact) for i in range(9)])
            torch.set_num_threads(2)
            together = model(x, num=exact)
            shifted = model(x[2:], num=exact)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(alone, together) and torch.equal(together[2:], shifted)
    assert alone.dtype == torch.float64
    assert torch.equal(alone * 2 ** ACT_BITS, torch.round(alone * 2 ** ACT_BITS)), "off the activation grid"


def test_exact_model_costs_about_what_the_float_model_does(model_name):
    model = tiny_model(model_name, 3)
    exact = ExactNumerics(model)
    x = torch.randint(0, 256, (4, 3, 7, 6), dtype=torch.uint8)
    with torch.no_grad():
        float_bits = F.cross_entropy(model(x).double(), x.long()).item() / math.log(2)
        weights = exact.probabilities(model(x, num=exact))
    p = weights.gather(1, x.long().unsqueeze(1)).squeeze(1) / weights.sum(1)
    exact_bits = -torch.log2(p).mean().item()
    assert abs(exact_bits - float_bits) < 1e-3 * float_bits


def test_exact_conditioning_is_on_the_grid_too():
    model = tiny_model("gated_pixelcnn", 1, cond_channels=3)
    exact = ExactNumerics(model)
    x = torch.randint(0, 256, (2, 1, 4, 4), dtype=torch.uint8)
    cond = torch.randn(2, 3)
    with torch.no_grad():
        assert torch.equal(model(x, cond, num=exact)[1:], model(x[1:], cond[1:], num=exact))
        assert not torch.equal(model(x, cond, num=exact), model(x, cond + 1, num=exact))


def test_weights_too_large_for_exact_sums_are_refused():
    model = tiny_model("pixelcnn", 1)
    with torch.no_grad():
        model.input.conv.weight.fill_(2.0 ** 14)
    with pytest.raises(ValueError, match="too large"):
        ExactNumerics(model)


@pytest.mark.parametrize("conv", [torch.nn.Conv2d(2, 2, 3, padding=1), torch.nn.Conv2d(2, 2, 3, stride=2),
                                  torch.nn.Conv2d(2, 2, 3, dilation=2), torch.nn.Conv2d(2, 2, 3, groups=2),
                                  torch.nn.Conv2d(2, 2, 3, padding="same")])
def test_the_arithmetic_refuses_a_conv_it_does_not_implement(conv):
    """It reads the weights and the explicit pad only: a conv's own padding, stride, dilation or
    groups would be ignored, so the model would compute something else than its float forward."""
    from pixcodec.exact.convs import PaddedConv2d, geometry
    from pixcodec.exact.numerics import FLOAT
    with pytest.raises(ValueError, match="implements"):
        ExactNumerics(torch.nn.Sequential(conv))
    with pytest.raises(ValueError, match="implements"):
        FLOAT.conv(conv, torch.zeros(1, 2, 5, 5))
    padded = PaddedConv2d(2, 2, 3, (1, 1, 1, 1))
    assert geometry(padded) == ((3, 3), (1, 1, 1, 1))
    x = torch.randn(1, 2, 5, 5)
    assert torch.allclose(FLOAT.conv(padded, x), F.conv2d(x, padded.weight, padded.bias, padding=1))
