"""bits/dim is exact: known values, pooling over mixed sizes, banded == full pass."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from pixcodec.training.likelihood import evaluate, image_bits, nll_bits, same_shape_batches

from conftest import tiny_model


class Uniform(nn.Module):
    context_rows = 0

    def forward(self, x):
        return torch.zeros(x.shape[0], 256, *x.shape[1:])


def test_uniform_model_costs_exactly_8_bits():
    imgs = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8) for h, w in [(4, 4), (4, 4), (2, 9), (1, 1)]]
    result = evaluate(Uniform(), imgs, batch_size=8)
    assert result.bits_per_dim == 8.0
    assert result.subpixels == 3 * (16 + 16 + 18 + 1) and result.images == 4


def test_nll_bits_matches_cross_entropy():
    logits = torch.randn(2, 256, 3, 4, 5)
    x = torch.randint(0, 256, (2, 3, 4, 5), dtype=torch.uint8)
    bits = nll_bits(logits, x)
    assert bits.dtype == torch.float64 and bits.shape == (2,)
    expected = F.cross_entropy(logits.double(), x.long(), reduction="sum") / math.log(2)
    assert torch.allclose(bits.sum(), expected, rtol=1e-6)


def test_dataset_figure_is_pooled_over_subpixels():
    model = tiny_model("pixelcnn", 1)
    small = torch.randint(0, 256, (1, 2, 2), dtype=torch.uint8)
    big = torch.randint(0, 256, (1, 10, 10), dtype=torch.uint8)
    each = [float(image_bits(model, im[None])) for im in (small, big)]
    pooled = evaluate(model, [small, big]).bits_per_dim
    assert math.isclose(pooled, sum(each) / (4 + 100), rel_tol=1e-9)


def test_banded_evaluation_equals_one_full_pass(model_name):
    model = tiny_model(model_name, 3)
    x = torch.randint(0, 256, (2, 3, 17, 6), dtype=torch.uint8)
    full = image_bits(model, x, max_subpixels=10**9)
    banded = image_bits(model, x, max_subpixels=2 * 3 * 6 * 2)     # two rows a band
    assert torch.allclose(full, banded, rtol=1e-6)


def test_same_shape_batches_keep_order_and_limit():
    imgs = [torch.zeros(1, 2, 2)] * 3 + [torch.zeros(1, 3, 3)] + [torch.zeros(1, 2, 2)]
    shapes = [tuple(b.shape) for b in same_shape_batches(imgs, batch_size=2)]
    assert shapes == [(2, 1, 2, 2), (1, 1, 2, 2), (1, 1, 3, 3), (1, 1, 2, 2)]
