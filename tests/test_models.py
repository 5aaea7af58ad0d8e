"""The battery every registered model must pass: contract, causality, context, purity."""
import pytest
import torch
import torch.nn.functional as F

from pixcodec import models
from pixcodec.errors import PixcodecError

from conftest import tiny_model

H, W = 5, 7


def raster_index(c: int, h: int, w: int) -> torch.Tensor:
    """(C, H, W): each subpixel's position in coding order (raster, then R, G, B)."""
    return torch.arange(h * w * c).view(h, w, c).permute(2, 0, 1)


def perturbed(x: torch.Tensor, where: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """x with every subpixel where `where` is True moved by 64 to 192 levels (mod 256)."""
    g = torch.Generator().manual_seed(seed)
    delta = torch.randint(64, 193, x.shape, generator=g, dtype=torch.int64)
    return torch.where(where, (x.long() + delta) % 256, x.long()).to(torch.uint8)


def image(c: int, h: int = H, w: int = W, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (1, c, h, w), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@torch.no_grad()
def logits_at_each_position(model, x: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """One forward pass over n copies of x, copy p perturbed where masks[p]; -> (n, 256, C, H, W)."""
    batch = torch.cat([perturbed(x, m, seed=p) for p, m in enumerate(masks)])
    return model(batch)


@pytest.mark.parametrize("channels", [1, 3])
def test_forward_contract(model_name, channels):
    model = tiny_model(model_name, channels)
    for h, w in [(1, 1), (1, 9), (9, 1), (5, 7), (13, 11)]:
        x = torch.randint(0, 256, (2, channels, h, w), dtype=torch.uint8)
        logits = model(x)
        assert logits.shape == (2, 256, channels, h, w) and logits.dtype == torch.float32
        assert torch.isfinite(logits).all()
        assert F.cross_entropy(logits, x.long()).item() > 0


@pytest.mark.parametrize("channels, head", [(1, "softmax"), (3, "laplace"), (1, "predictive"), (3, "predictive")])
def test_nats_equal_the_logits_softmax_and_its_gradient(model_name, channels, head):
    """Training reads -ln p(x) through nats=True (the predictive head's normaliser in closed
    form): values and gradients must be the 256-way softmax's, also at the ends of the range."""
    model = tiny_model(model_name, channels, head=head)
    x = torch.cat([image(channels, 6, 5, seed=1), torch.zeros(1, channels, 6, 5, dtype=torch.uint8),
                   torch.full((1, channels, 6, 5), 255, dtype=torch.uint8)])
    with torch.no_grad():   # push some peaks beyond 0..255 and make some flat, as training meets them
        for p in model.head.out.conv.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(2)))
    grads = []
    for nats in (False, True):
        model.zero_grad()
        if nats:
            cost = model(x, nats=True)                                                  # (B, C, H, W)
        else:
            cost = -torch.log_softmax(model(x).double(), 1).gather(1, x.long()[:, None])[:, 0]
        assert cost.shape == x.shape
        cost.sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
        if not nats:
            reference = cost.detach()
    assert torch.allclose(cost.double(), reference, rtol=1e-5, atol=1e-4)
    assert torch.allclose(grads[1], grads[0].to(grads[1].dtype), rtol=1e-3, atol=1e-3 * grads[0].abs().max().item())


@pytest.mark.parametrize("channels, head", [(1, "softmax"), (3, "softmax"), (3, "laplace"), (1, "predictive"), (3, "predictive")])
def test_causality_battery(model_name, channels, head):
    """Changing subpixels at or after p never moves p's logits; changing those before p does."""
    model = tiny_model(model_name, channels, head=head)
    x = image(channels)
    order = raster_index(channels, H, W)
    n = order.numel()
    with torch.no_grad():
        base = model(x)[0]                                              # (256, C, H, W)
    future = logits_at_each_position(model, x, [order >= p for p in range(n)])
    past = logits_at_each_position(model, x, [order < p for p in range(n)])
    for p in range(n):
        c, i, j = [int(t) for t in (order == p).nonzero()[0]]
        assert torch.allclose(future[p, :, c, i, j], base[:, c, i, j], atol=1e-5), \
            f"{model_name}: subpixel (row {i}, col {j}, ch {c}) sees its own or a later subpixel"
        if p > 0:
            assert not torch.allclose(past[p, :, c, i, j], base[:, c, i, j], atol=1e-5), \
                f"{model_name}: subpixel (row {i}, col {j}, ch {c}) ignores its context"


def test_later_channels_read_the_current_pixels_earlier_channels(model_name):
    model = tiny_model(model_name, 3)
    x = image(3)
    with torch.no_grad():
        base = model(x)[0]
        for src, dests in [(0, (1, 2)), (1, (2,))]:
            for i in range(H):
                for j in range(W):
                    where = torch.zeros_like(x, dtype=torch.bool)
                    where[0, src, i, j] = True
                    out = model(perturbed(x, where))[0]
                    for d in dests:
                        assert not torch.allclose(out[:, d, i, j], base[:, d, i, j], atol=1e-5), (src, d, i, j)


def test_context_rows_bounds_the_receptive_field(model_name):
    model = tiny_model(model_name, 1)
    ctx = model.context_rows
    if ctx is None:
        pytest.skip("this model sees the whole past")
    h, w = ctx + 3, 9
    x = image(1, h, w)
    r = h - 1
    with torch.no_grad():
        base = model(x)[0, :, 0, r]
        for row, should_matter in [(r - ctx - 1, False), (r - ctx, True)]:
            where = torch.zeros_like(x, dtype=torch.bool)
            where[0, 0, row] = True
            changed = not torch.allclose(model(perturbed(x, where))[0, :, 0, r], base, atol=1e-5)
            assert changed == should_matter, f"row {row} vs row {r} with context_rows={ctx}"


def test_gated_pixelcnn_has_no_blind_spot():
    """(i-1, j+1) influences (i, j): the PixelCNN's blind spot is gone."""
    model = tiny_model("gated_pixelcnn", 1)
    x = image(1)
    with torch.no_grad():
        base = model(x)[0, :, 0]
        for i in range(1, H):
            for j in range(W - 1):
                where = torch.zeros_like(x, dtype=torch.bool)
                where[0, 0, i - 1, j + 1] = True
                out = model(perturbed(x, where))[0, :, 0]
                assert not torch.allclose(out[:, i, j], base[:, i, j], atol=1e-5), (i, j)


CONDITIONAL = [n for n in models.names() if "cond_channels" in models.hyperparameters(n)]


@pytest.mark.parametrize("name", CONDITIONAL)
@pytest.mark.parametrize("cond_shape", [(2, 5), (2, 5, H, W)])
def test_conditioning_hook(name, cond_shape):
    model = tiny_model(name, 3, cond_channels=5)
    x = image(3).expand(2, -1, -1, -1).contiguous()
    cond = torch.randn(cond_shape)
    with torch.no_grad():
        a, b = model(x, cond), model(x, cond * 2 + 1)
        assert not torch.allclose(a, b, atol=1e-5), "the condition must move the probabilities"
        order = raster_index(3, H, W)
        future = torch.cat([perturbed(x[:1], order >= p, seed=p) for p in range(0, order.numel(), 7)])
        out = model(future, cond[:1].expand(len(future), *cond.shape[1:]))
        for k, p in enumerate(range(0, order.numel(), 7)):
            c, i, j = [int(t) for t in (order == p).nonzero()[0]]
            assert torch.allclose(out[k, :, c, i, j], a[0, :, c, i, j], atol=1e-5)
    with pytest.raises(ValueError):
        tiny_model(name, 3)(x, cond)


def influence(model, x, i, j):
    """(H, W) bool: which pixels, perturbed in all channels, move any logit at pixel (i, j)
    (the pixel itself does: its earlier channels are context for its later ones)."""
    with torch.no_grad():
        base = model(x)[0, :, :, i, j]
        moved = torch.zeros(x.shape[2:], dtype=torch.bool)
        for r in range(x.shape[2]):
            for c in range(x.shape[3]):
                where = torch.zeros_like(x, dtype=torch.bool)
                where[0, :, r, c] = True
                moved[r, c] = not torch.equal(model(perturbed(x, where))[0, :, :, i, j], base)
    return moved


def test_diagonal_bilstm_sees_the_whole_past():
    """Every earlier pixel, the far right of the row above and the far left of this row included."""
    model = tiny_model("diagonal_bilstm", 3, layers=2)
    x = image(3, 6, 12)
    moved = influence(model, x, 5, 2)
    past = torch.zeros_like(moved)
    past[:5], past[5, :3] = True, True      # (5, 2) itself: its R and G reach its G and B
    assert torch.equal(moved, past), moved.int()


def test_row_lstm_sees_a_triangle():
    """Row i - r is seen up to column j + r + 2 (1x3 state-to-state a row, plus the 7x7 input's
    reach of 3): far right in the rows just above lies outside, unlike for diagonal_bilstm."""
    model = tiny_model("row_lstm", 3, layers=2)
    x = image(3, 6, 14)
    i, j = 5, 2
    moved = influence(model, x, i, j)
    assert moved[i, :j + 1].all() and not moved[i, j + 1:].any()
    for r in range(1, 4):
        assert moved[i - r, :j + 3].all(), r         # the triangle itself, by a clear margin
        assert not moved[i - r, j + r + 3:].any(), (r, moved.int())


def test_forward_never_mutates_weights_and_masked_gradients_are_zero(model_name):
    model = tiny_model(model_name, 3).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = image(3)
    F.cross_entropy(model(x), x.long()).backward()
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    for name, module in model.named_modules():
        if hasattr(module, "mask"):
            assert (module.conv.weight.grad * (1 - module.mask)).abs().max() == 0, name


def test_registry_refuses_duplicates_and_unknowns():
    with pytest.raises(ValueError, match="already registered"):
        models.register("pixelcnn")(type("Other", (torch.nn.Module,), {}))
    with pytest.raises(PixcodecError, match="unknown model"):
        models.build("nope", 1)
    with pytest.raises(PixcodecError, match="no hyperparameter"):
        models.build("pixelcnn", 1, width=3)
    with pytest.raises(PixcodecError, match="1 \\(gray\\) or 3"):
        models.build("pixelcnn", 4)
    with pytest.raises(PixcodecError, match="bad hyperparameters"):
        models.build("pixelcnn", 3, hidden=2)


def test_models_refuse_non_uint8_input(model_name):
    with pytest.raises(TypeError, match="uint8"):
        tiny_model(model_name, 1)(torch.zeros(1, 1, 4, 4))


def test_build_records_resolved_hyperparameters(model_name):
    model = models.build(model_name, 1, layers=1)
    assert model.hparams == {**models.hyperparameters(model_name), "layers": 1}
    assert model.registry_name == model_name and model.in_channels == 1


def test_a_model_built_by_its_class_records_what_it_was_built_from(model_name):
    """in_channels and hparams come from the constructor, not from the registry afterwards: a
    model made by its class directly checkpoints and codes under the same id as a built one."""
    from pixcodec.codec import Codec
    cls = type(models.build(model_name, 3, layers=1))
    torch.manual_seed(0)
    direct = cls(3, layers=1)
    torch.manual_seed(0)
    built = models.build(model_name, 3, layers=1)
    assert direct.in_channels == 3 and direct.hparams == built.hparams
    if model_name in models.names():
        assert Codec(direct).id == Codec(built).id
