"""The incremental engine reproduces the full forward pass: exactly in exact arithmetic."""
import pytest
import torch

from pixcodec.exact import engine
from pixcodec import models
from pixcodec.exact.numerics import FLOAT, ExactNumerics

from conftest import tiny_model


def engine_logits(model, num, x, cond=None):
    """Run the engine teacher-forced and collect every subpixel's logits -> (B, 256, C, H, W)."""
    b, c, h, w = x.shape
    got = torch.full((b, 256, c, h, w), float("nan"), dtype=torch.float64)

    def choose(logits, ch, rows, cols):
        got[:, :, ch, rows, cols] = logits.double().view(b, len(rows), 256).transpose(1, 2)
        return x[:, ch, rows, cols].reshape(-1)

    out = engine.run(model, num, b, h, w, choose, cond=cond)
    assert torch.equal(out, x)
    return got


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (6, 1), (5, 7), (7, 29)])   # 29: ring canvases wrap
def test_engine_matches_the_full_pass(model_name, channels, shape):
    model = tiny_model(model_name, channels)
    x = torch.randint(0, 256, (2, channels, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    exact = ExactNumerics(model)
    with torch.no_grad():
        assert torch.equal(engine_logits(model, exact, x), model(x, num=exact))
        assert torch.allclose(engine_logits(model, FLOAT, x), model(x).double(), atol=1e-5)


@pytest.mark.parametrize("head", ["laplace", "predictive"])
@pytest.mark.parametrize("channels", [1, 3])
def test_engine_matches_the_full_pass_with_the_parametric_heads(model_name, channels, head):
    model = tiny_model(model_name, channels, head=head)
    x = torch.randint(0, 256, (2, channels, 7, 29), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    exact = ExactNumerics(model)
    with torch.no_grad():
        assert torch.equal(engine_logits(model, exact, x), model(x, num=exact))
        assert torch.allclose(engine_logits(model, FLOAT, x), model(x).double(), atol=1e-4)


def test_pixelcnn_engine_is_exact_with_stacked_and_per_tap_past_parts():
    """The sheared engine stacks the taps of thin convs and multiplies wide ones tap by tap;
    the battery's tiny pixelcnn is thin everywhere, the shipped one wide in its 3x3 convs."""
    layouts = set()
    for hidden in (24, 48):
        model = tiny_model("pixelcnn", 3, hidden=hidden, head="predictive")
        exact = ExactNumerics(model)
        layouts.add(model.incremental(exact, 1, 2, 2).convs[0].stacked)
        x = torch.randint(0, 256, (3, 3, 9, 29), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            assert torch.equal(engine_logits(model, exact, x), model(x, num=exact))
    assert layouts == {True, False}


CONDITIONAL = [n for n in models.names() if "cond_channels" in models.hyperparameters(n)]


@pytest.mark.parametrize("name", CONDITIONAL)
@pytest.mark.parametrize("cond_shape", [(2, 4), (2, 4, 5, 7)])
def test_engine_with_conditioning(name, cond_shape):
    model = tiny_model(name, 3, cond_channels=4)
    exact = ExactNumerics(model)
    x = torch.randint(0, 256, (2, 3, 5, 7), dtype=torch.uint8)
    cond = torch.randn(cond_shape)
    with torch.no_grad():
        assert torch.equal(engine_logits(model, exact, x, cond), model(x, cond, num=exact))


def test_sampling_through_the_engine_is_seeded(model_name):
    model = tiny_model(model_name, 3)
    exact = ExactNumerics(model)

    def sampler(seed):
        g = torch.Generator().manual_seed(seed)
        return lambda logits, c, rows, cols: torch.multinomial(exact.probabilities(logits), 1, generator=g)[:, 0].to(torch.uint8)

    a = engine.run(model, exact, 3, 4, 5, sampler(0))
    b = engine.run(model, exact, 3, 4, 5, sampler(0))
    c = engine.run(model, exact, 3, 4, 5, sampler(1))
    assert a.shape == (3, 3, 4, 5) and a.dtype == torch.uint8
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_naive_reference_sees_the_same_probabilities(model_name):
    model = tiny_model(model_name, 3)
    exact = ExactNumerics(model)
    x = torch.randint(0, 256, (2, 3, 4, 5), dtype=torch.uint8)
    seen = {}

    def recorder(name):
        def choose(logits, c, rows, cols):
            for k, (i, j) in enumerate(zip(rows.tolist(), cols.tolist())):
                seen[name, c, i, j] = logits.view(2, len(rows), 256)[:, k]
            return x[:, c, rows, cols].reshape(-1)
        return choose

    engine.run(model, exact, 2, 4, 5, recorder("cached"))
    engine.run_naive(model, exact, 2, 4, 5, recorder("naive"))
    for (name, c, i, j), logits in seen.items():
        if name == "cached":
            assert torch.equal(logits, seen["naive", c, i, j])


def test_engine_matches_the_full_pass_when_activations_saturate(model_name):
    """Huge weights push activations into the +-256 clamp, where the order of additions matters."""
    model = tiny_model(model_name, 3, **({"cond_channels": 2} if model_name in CONDITIONAL else {}))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(60)
    exact = ExactNumerics(model)
    x = torch.randint(0, 256, (2, 3, 5, 6), dtype=torch.uint8)
    cond = torch.randn(2, 2) * 50 if model_name in CONDITIONAL else None
    with torch.no_grad():
        full = model(x, cond, num=exact)
        assert full.abs().max() == 256, "the test needs saturated activations"
        assert torch.equal(engine_logits(model, exact, x, cond), full)


@pytest.mark.parametrize("coded", [3, 1])
def test_parts_run_ahead_make_the_same_choices_in_the_same_order(model_name, coded):
    """With ahead=True the next part's logits come from a second thread while a part chooses:
    every choice sees the logits, and comes in the order, of one thread."""
    model = tiny_model(model_name, 3)
    exact = ExactNumerics(model)
    x = torch.randint(0, 256, (5, 3, 6, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    if coded == 1:
        x[:, 1] = x[:, 2] = x[:, 0]
    threads = torch.get_num_threads()
    runs = {}
    for ahead in (False, True):
        seen = []

        def parts_of(sizes):
            first, parts = 0, []
            for size in sizes:
                def choose(logits, ch, rows, cols, xs=x[first:first + size], k=len(parts)):
                    seen.append((k, ch, rows.tolist(), cols.tolist(), logits.clone()))
                    return xs[:, ch, rows, cols].reshape(-1)
                parts.append(engine.Part(size, choose))
                first += size
            return parts
        outs = engine.run_parts(model, exact, parts_of([2, 1, 2]), 6, 7, coded=coded, ahead=ahead)
        assert torch.equal(torch.cat(outs), x) and torch.get_num_threads() == threads
        runs[ahead] = seen
    assert len(runs[False]) > 3 * coded
    assert [s[:4] for s in runs[True]] == [s[:4] for s in runs[False]]
    assert all(torch.equal(a[4], b[4]) for a, b in zip(runs[True], runs[False]))


def test_a_choice_that_fails_ahead_stops_the_network_and_restores_its_threads(model_name):
    model = tiny_model(model_name, 3)
    threads, calls = torch.get_num_threads(), []

    def choose(logits, ch, rows, cols):
        calls.append(ch)
        if len(calls) == 4:
            raise ValueError("a corrupt stream")
        return torch.zeros(len(logits), dtype=torch.uint8)
    with pytest.raises(ValueError, match="corrupt stream"):
        engine.run_parts(model, ExactNumerics(model), [engine.Part(1, choose), engine.Part(1, choose)], 4, 4, ahead=True)
    assert len(calls) == 4 and torch.get_num_threads() == threads


@pytest.mark.parametrize("scale", [1, 60])            # 60: activations saturate at the clamps
def test_pixelcnn_engine_is_exact_through_the_compiled_loops(monkeypatch, scale):
    """Blocks of any size through exact/kernels.py (the shipped model's sizes take them; the tiny
    ones here would not), including the predictive head's logits and the weights."""
    from pixcodec.exact import kernels as exact_kernels, numerics
    monkeypatch.setattr(numerics, "ELEMENTWISE", 1)
    monkeypatch.setattr(exact_kernels, "MIN_ELEMENTS", 1)
    calls = []
    for name in ("finish", "residual", "laplace_logits"):
        original = getattr(exact_kernels, name)
        monkeypatch.setattr(exact_kernels, name, lambda *a, f=original, n=name: calls.append(n) or f(*a))
    model = tiny_model("pixelcnn", 3, hidden=48, head="predictive")
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    exact = ExactNumerics(model)
    x = torch.randint(0, 256, (2, 3, 9, 29), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        full = model(x, num=exact)
        assert scale == 1 or full.abs().max() == 256
        assert torch.equal(engine_logits(model, exact, x), full)
    assert set(calls) == {"finish", "residual", "laplace_logits"}


def test_pixelcnn_steps_of_every_size_share_one_feature_buffer():
    """A state's per-step features live in one buffer sized for its largest step: a buffer per
    pixel count held them all at once (about a gigabyte for 128 tiles of 128)."""
    model = tiny_model("pixelcnn", 3)
    batch, height, width = 5, 9, 12
    state = model.incremental(ExactNumerics(model), batch, height, width)
    largest = batch * min(height, -(-width // state.skew))
    for n in range(batch, largest + 1, batch):
        state._views(n)
    spans = (state.features.data_ptr(), state.features.data_ptr() + state.features.numel() * 8)
    for views in state.view_cache.values():
        for view in views:
            for t in [view.h0, view.r0, view.r_last, view.hid, view.hid_reads, view.raw, *(x for b in view.blocks for x in b)]:
                assert spans[0] <= t.data_ptr() and t.data_ptr() + t.numel() * 8 <= spans[1] + 1
    assert state.features.numel() <= largest * 2000
