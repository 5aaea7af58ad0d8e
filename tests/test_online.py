"""Online mixing (pixcodec/pxc/online.py) and the effort levels (codec.EFFORTS) that turn it on."""
import math

import numpy as np
import pytest
import torch

from conftest import structured_images, tiny_model
from pixcodec import api
from pixcodec.codec import EFFORTS, Codec
from pixcodec.errors import PixcodecError
from pixcodec.exact.numerics import exact_tables
from pixcodec.pxc import MixState, parse
from pixcodec.pxc.online import ALPHAS, COST_BITS, THRESHOLDS, _cost_table
from test_cli_codec import clean_error, run


def strokes(h: int, w: int, channels: int = 3) -> torch.Tensor:
    """Repeated exact values, as in text and graphics: what a histogram learns and a model does not."""
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    on = ((i // 2 + j // 3) % 3 == 0) | ((i * 3 + j) % 11 == 0)
    return torch.stack([torch.where(on, 30 + 7 * c, 220 - 5 * c) for c in range(channels)]).to(torch.uint8)


def test_the_cost_table_is_minus_log2_in_256ths_of_a_bit():
    costs = _cost_table()
    assert len(costs) == (1 << COST_BITS) + 1 and int(costs[1 << COST_BITS]) == 0
    assert int(costs[1 << (COST_BITS - 1)]) == 256 and int(costs[0]) == int(costs[1]) == COST_BITS * 256
    q = torch.randint(1, 1 << COST_BITS, (200,), generator=torch.Generator().manual_seed(0))
    assert all(abs(int(costs[k]) - (-math.log2(int(k) / (1 << COST_BITS)) * 256)) <= 0.5 for k in q)


def test_the_thresholds_are_quarter_octaves_and_the_plain_model_is_the_first_share():
    assert torch.allclose(THRESHOLDS, 2 ** (torch.arange(1, 33, dtype=torch.float64) / 4), atol=5e-5)
    assert float(ALPHAS[0]) == 1.0 and bool((ALPHAS[1:] < 1).all())


def test_a_fresh_state_codes_with_the_models_weights_and_learns_between_steps():
    """Before any symbol the share is the model's (a = 1): the mixture is the model's
    distribution, normalised. Symbols change nothing until the next step's flush."""
    peak = float(exact_tables()["exp"][0])
    state = MixState(1, peak)
    plain = torch.zeros(4, 256, dtype=torch.float64) + 1
    plain[torch.arange(4), torch.tensor([10, 50, 50, 200])] = peak
    mixed, context = state.mix(plain, 0)
    assert torch.allclose(mixed, plain / plain.sum(1, keepdim=True), rtol=1e-15, atol=0)
    for _ in range(50):                                   # the truth is always 3 above the mode
        mixed, context = state.mix(plain, 0)
        state.observe(context, torch.tensor([13, 53, 53, 203]))
        assert torch.equal(state.mix(plain, 0)[0], mixed)          # not before the flush
        state.flush()
    mixed, _ = state.mix(plain, 0)
    assert bool((mixed.argmax(1) == torch.tensor([13, 53, 53, 203])).all()) and bool((mixed > 0).all())


def test_online_mixing_shrinks_repeated_strokes_and_decodes_across_groupings_and_threads():
    model = tiny_model("pixelcnn", 3)
    img = strokes(21, 30)
    plain = Codec(model, tile=8, group=3, online=False).compress(img)
    mixed = Codec(model, tile=8, group=3).compress(img)
    assert parse(mixed.data)[0].side.online and len(mixed.data) < len(plain.data) / 2
    threads = torch.get_num_threads()
    try:
        for n, group in ((1, 1), (2, 5), (1, 300)):
            torch.set_num_threads(n)
            assert torch.equal(Codec(model, tile=8, group=group).decompress(mixed.data)[0], img)
            assert Codec(model, tile=8, group=3).compress(img).data == mixed.data       # the same bytes
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (17, 1), (9, 70), (65, 3)])
def test_every_effort_round_trips_awkward_shapes(shape):
    model = tiny_model("pixelcnn", 3, head="predictive")
    img = torch.from_numpy(structured_images(1, 3, *shape)[0]).permute(2, 0, 1).contiguous()
    sizes = {}
    for effort in EFFORTS:
        data = api.compress(img.permute(1, 2, 0).numpy(), model, tile=8, effort=effort)
        header = parse(data)[0]
        assert not header.side.online and not (effort < 3 and header.side.tuned)
        assert np.array_equal(api.decompress(data, model), img.permute(1, 2, 0).numpy())
        sizes[effort] = len(data)
    assert sizes[4] <= min(sizes[2], sizes[3])


def test_an_effort_out_of_range_is_refused():
    with pytest.raises(PixcodecError, match="effort"):
        Codec.at_effort(tiny_model("pixelcnn", 3), 5)
    with pytest.raises(PixcodecError, match="effort"):
        api.codec_for(tiny_model("pixelcnn", 3), effort=0)


def test_compress_effort_through_the_command_line(tmp_path):
    from PIL import Image
    from pixcodec import checkpoint
    checkpoint.save(tmp_path / "m.pt", tiny_model("pixelcnn", 3))
    Image.fromarray(strokes(12, 20).permute(1, 2, 0).numpy()).save(tmp_path / "s.png")
    for effort in (1, 2):
        out = tmp_path / f"s{effort}.pxc"
        result = run("compress", tmp_path / "s.png", "-m", tmp_path / "m.pt", "-e", effort, "-o", out, "--verify")
        assert result.exit_code == 0, result.stderr
        info = run("info", out).stdout
        assert ("context_mixing       revision 3" in info) == (effort == 2), info
    assert (tmp_path / "s2.pxc").stat().st_size < (tmp_path / "s1.pxc").stat().st_size
    clean_error(run("compress", tmp_path / "s.png", "-m", tmp_path / "m.pt", "--effort", 9, "-o", tmp_path / "x.pxc"),
                "effort")


def test_each_effort_codes_in_its_tiles_unless_told(tmp_path):
    """Where the context-mixing stage runs the tiles are 128 (its contexts and counters learn
    across more of the image), at effort 1 64; --tile and tile= override either."""
    from PIL import Image
    from pixcodec import checkpoint
    from pixcodec.defaults import EFFORT_TILES
    assert EFFORT_TILES == {1: 64, 2: 128, 3: 128, 4: 128}
    model = tiny_model("pixelcnn", 3)
    assert [Codec.at_effort(model, e).tile for e in (1, 2, 3, 4)] == [64, 128, 128, 128]
    assert Codec.at_effort(model, 3, tile=16).tile == 16 and api.codec_for(model, effort=1).tile == 64
    checkpoint.save(tmp_path / "m.pt", model)
    Image.fromarray(strokes(12, 20).permute(1, 2, 0).numpy()).save(tmp_path / "s.png")
    for options, tile in (((), 128), (("-e", 1), 64), (("--tile", 8), 8), (("-e", 1, "--tile", 32), 32)):
        out = tmp_path / f"s{tile}.pxc"
        assert run("compress", tmp_path / "s.png", "-m", tmp_path / "m.pt", *options, "-o", out).exit_code == 0
        assert parse(out.read_bytes())[0].tile == tile
    image = strokes(12, 20).permute(1, 2, 0).numpy()
    assert parse(api.compress(image, model, effort=2))[0].tile == 128
