"""The compiled 256-wide loops return the torch code's bits, on random and extreme inputs."""
import pytest
import torch

from pixcodec.exact import kernels as exact_kernels
from pixcodec.exact.numerics import ACT_BITS, ACT_LIMIT, EXP_RANGE, ExactNumerics, _grid, exact_tables


@pytest.fixture
def num():
    exact = object.__new__(ExactNumerics)          # the verbs under test read only the tables
    exact.tables = exact_tables()
    return exact


@pytest.fixture
def torch_only(monkeypatch):
    """Run the reference: every block below the compiled loops' threshold."""
    def reference(fn, *args):
        monkeypatch.setattr(exact_kernels, "MIN_ELEMENTS", 1 << 62)
        try:
            return fn(*args)
        finally:
            monkeypatch.undo()
    return reference


def peaks(n: int, seed: int = 0):
    """(mu, sharpness) as the predictive head makes them, on the grids, with extremes first."""
    g = torch.Generator().manual_seed(seed)
    mu = _grid(torch.randn(n, 1, generator=g, dtype=torch.float64) * 2)
    sharp = _grid(torch.rand(n, 1, generator=g, dtype=torch.float64) * 40) * 64
    extremes_mu = [ACT_LIMIT, -ACT_LIMIT, 0.0, -0.0, 1.0, -1.0, 2.0 ** -ACT_BITS, 255.5, -1.0 + 2 ** -ACT_BITS]
    extremes_sharp = [0.0, ACT_LIMIT * 64, 64.0, 2.0 ** -6, 1.0, 16384.0, 2.0 ** -6 * 3, 100.0, 0.0]
    mu[:len(extremes_mu), 0] = torch.tensor(extremes_mu, dtype=torch.float64)
    sharp[:len(extremes_sharp), 0] = torch.tensor(extremes_sharp, dtype=torch.float64)
    return mu, sharp


def test_the_laplace_logits_are_the_torch_code_s_bits(num, torch_only):
    values = num.input(torch.arange(256))
    mu, sharp = peaks(300)
    compiled = num.laplace(values, mu, sharp)
    reference = torch_only(num.laplace, values, mu, sharp)
    assert torch.equal(compiled.view(torch.int64), reference.view(torch.int64))    # signed zeros too
    assert compiled.min() >= -ACT_LIMIT and compiled.max() <= 0


@pytest.mark.parametrize("with_sharpness", [False, True])
def test_the_weights_are_the_torch_code_s_bits(num, torch_only, with_sharpness):
    values = num.input(torch.arange(256))
    mu, sharp = peaks(300, seed=1)
    g = torch.Generator().manual_seed(2)
    logits = torch.cat([num.laplace(values, mu, sharp),
                        _grid(torch.randn(100, 256, generator=g, dtype=torch.float64) * 100).clamp(-ACT_LIMIT, ACT_LIMIT),
                        torch.full((2, 256), -ACT_LIMIT, dtype=torch.float64)])     # flat rows
    logits[-1, 7] = ACT_LIMIT                    # the widest range a row can have: capped
    k = torch.randint(1, 256, (len(logits),), generator=g) if with_sharpness else None
    if k is not None:
        k[:3] = torch.tensor([1, 255, 16])
    compiled = num.probabilities(logits, k)
    reference = torch_only(num.probabilities, logits, k)
    assert torch.equal(compiled, reference)
    assert compiled.min() >= 1 and (compiled.max(1).values == num.tables["exp"][0]).all()
    assert (compiled[-1] == num.tables["exp"][EXP_RANGE << ACT_BITS]).sum() == 255
    assert (compiled[-2] == num.tables["exp"][0]).all()


def test_small_blocks_and_other_dtypes_take_the_torch_code(num):
    values = num.input(torch.arange(256))
    assert not exact_kernels.usable(torch.zeros(12, 256, dtype=torch.float64))
    assert not exact_kernels.usable(torch.zeros(1000, 256, dtype=torch.float32))
    assert exact_kernels.usable(torch.zeros(1000, 256, dtype=torch.float64))
    mu, sharp = peaks(12)
    assert torch.equal(num.laplace(values, mu, sharp), num.mul(sharp, (values - mu).abs_()).neg_())


@pytest.mark.parametrize("wide", [True, False])
def test_the_fused_trunk_steps_are_the_torch_code_s_bits(num, wide):
    """finish (floor, clamp) and residual (finish, add, clamp, ReLU) against their torch steps,
    on sums far past the clamps and on ones just inside them; acc (R, N) or a bias (R, 1)."""
    from pixcodec.exact.numerics import FLOAT
    g = torch.Generator().manual_seed(5)
    limit = ACT_LIMIT * 4096
    acc = torch.randn(24, 40 if wide else 1, generator=g, dtype=torch.float64) * limit * 1.5
    acc[:4] = torch.tensor([limit, -limit, limit + 0.5, -limit - 0.5], dtype=torch.float64)[:, None]
    h = torch.randint(-int(limit), int(limit) + 1, (24, 40), generator=g).double()
    for relu in (False, True):
        lo = 0.0 if relu else -limit
        got = exact_kernels.finish(acc, torch.empty(24, 40, dtype=torch.float64), lo, limit)
        assert torch.equal(got, torch.floor(acc.expand(24, 40)).clamp(lo, limit))
    out, rectified = torch.empty(24, 40, dtype=torch.float64), torch.empty(24, 40, dtype=torch.float64)
    exact_kernels.residual(acc, h, out, rectified, limit)
    step = (h + torch.floor(acc.expand(24, 40)).clamp(-limit, limit)).clamp(-limit, limit)
    assert torch.equal(out, step) and torch.equal(rectified, step.clamp_min(0))
    assert (step.abs() == limit).any() and (step == 0).sum() < step.numel()
    # the float arithmetic's same verb, for the sheared decoder's float runs
    out2, rect2 = torch.empty(24, 40), torch.empty(24, 40)
    FLOAT.residual_into(acc.float(), h.float(), out2, rect2)
    assert torch.equal(out2, h.float() + acc.float().expand(24, 40)) and torch.equal(rect2, out2.clamp_min(0))
