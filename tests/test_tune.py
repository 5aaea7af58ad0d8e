"""Head tuning (pixcodec/encoder/tune.py): the fit's arithmetic, exact round trips of tuned files, bad headers."""
import struct
from pathlib import Path

import pytest
import torch

from conftest import fuzz, rewritten_header, structured_images, tiny_model
from pixcodec import checkpoint
from pixcodec.encoder import tune
from pixcodec.codec import Codec
from pixcodec.pxc import TunedHead, parse
from pixcodec.errors import PixcodecError
from pixcodec.training.likelihood import nll_bits
from pixcodec.exact.convs import conv_weight
from test_codec import golden_module

DATA = Path(__file__).parent / "data"


def predictive(seed: int = 0):
    return tiny_model("pixelcnn", 3, seed=seed, head="predictive")


def test_only_a_predictive_head_is_tunable():
    assert TunedHead.tunable(predictive())
    assert not TunedHead.tunable(tiny_model("pixelcnn", 3)) and not TunedHead.tunable(tiny_model("gated_pixelcnn", 3))


def test_the_closed_form_normaliser_equals_the_models_softmax():
    """The fit's bits (two geometric series) are the model's own 256-way NLL, tile by tile."""
    model = predictive()
    image = torch.from_numpy(structured_images(1, 3, 11, 13)[0]).permute(2, 0, 1).contiguous()
    sample = tune._sample(model, image, 16, torch.Generator().manual_seed(0))        # one tile: every pixel
    assert len(sample.target) == 11 * 13
    weight, bias, _ = conv_weight(model.head.out)
    with torch.no_grad():
        closed = float(tune.bits(sample.features @ weight.flatten(1).t() + bias, sample, model.head))
        softmax = float(nll_bits(model(image[None]), image[None]))
    assert closed == pytest.approx(softmax, rel=1e-5)


def test_a_large_image_runs_only_a_random_share_of_its_tiles(monkeypatch):
    """The float pass is the fit's cost: past SPREAD times the sample, only some tiles run."""
    monkeypatch.setattr(tune, "SAMPLE", 64)                          # 80 pixels wanted; 320 pixels' worth of tiles
    model = predictive()
    image = torch.from_numpy(structured_images(1, 3, 64, 64)[0]).permute(2, 0, 1).contiguous()
    sample = tune._sample(model, image, 8, torch.Generator().manual_seed(0))       # 64 tiles of 64 pixels
    ran = set(sample.tile.tolist())
    assert 1 <= len(ran) <= 12 and 40 <= len(sample.target) <= 130
    monkeypatch.setattr(tune, "SAMPLE", 4096)                        # a small image: every tile runs
    assert len(set(tune._sample(model, image, 8, torch.Generator().manual_seed(0)).tile.tolist())) == 64


def test_the_sample_is_the_same_in_one_thread_and_in_two(monkeypatch):
    """The float passes run on copies of the model in as many threads as the caller has cores
    (threads.pieces_map): the sample, features and draws, is what one thread gives."""
    from pixcodec.threads import one_thread
    monkeypatch.setattr(tune, "CHUNK", 3)                              # 30 tiles: 10 passes
    model, threads, runs = predictive(), torch.get_num_threads(), []
    image = torch.from_numpy(structured_images(1, 3, 40, 48)[0]).permute(2, 0, 1).contiguous()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            runs.append(one_thread(tune._sample)(model, image, 8, torch.Generator().manual_seed(0)))
    finally:
        torch.set_num_threads(threads)
    assert len(runs[0].target) > 1000 and sorted(set(runs[0].tile.tolist())) == list(range(30))
    assert all(torch.equal(a, b) for a, b in zip(*runs))


def test_a_tuned_file_decodes_exactly_in_any_grouping_and_thread_count():
    golden = golden_module()
    image, model = golden.golden_tuned_image(), checkpoint.load_model(DATA / "golden_predictive.pt")
    compressed = Codec(model, tile=8, group=2).compress(image)
    header = parse(compressed.data)[0]
    assert header.version == 7 and header.side.tuned.deltas.numel() == TunedHead.parameter_count(model)
    assert len(compressed.data) < len(Codec(model, tile=8, group=2, tuning=False).compress(image).data)
    threads = torch.get_num_threads()
    try:
        for group, n in ((1, 1), (3, 2)):
            torch.set_num_threads(n)
            assert torch.equal(Codec(model, tile=8, group=group).decompress(compressed.data)[0], image)
            assert Codec(model, tile=8, group=2).compress(image).data == compressed.data
    finally:
        torch.set_num_threads(threads)



def test_the_fit_and_its_judgement_are_the_same_in_one_thread_and_in_two(monkeypatch):
    """The judgement's two fits (before and after the deltas) run side by side with two cores:
    the saving, hence the section or None, is what one thread gives."""
    savings = []
    judged = tune._judged
    monkeypatch.setattr(tune, "_judged", lambda *a: savings.append(judged(*a)) or savings[-1])
    model, threads = predictive(), torch.get_num_threads()
    image = torch.from_numpy(structured_images(1, 3, 64, 64, seed=3)[0]).permute(2, 0, 1).contiguous()
    fitted = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            fitted.append(tune.fit(model, image, 16))
    finally:
        torch.set_num_threads(threads)
    assert len(savings) == 4 and sorted(savings[:2]) == sorted(savings[2:]) and savings[0] != savings[1]
    assert fitted[0] is not None and fitted[1] is not None
    assert (fitted[0].values == fitted[1].values).all()

def test_tuning_is_declined_where_it_cannot_pay():
    model = predictive()
    small = torch.from_numpy(structured_images(1, 3, 6, 7)[0]).permute(2, 0, 1).contiguous()
    assert tune.fit(model, small, 8) is None                        # 60 deltas cost more than it saves
    assert not parse(Codec(model, tile=8).compress(small).data)[0].side.tuned
    gray = small[:1]
    assert tune.fit(model, gray, 8) is None                         # a gray image through an RGB model


def test_deltas_move_the_exact_layer_by_multiples_of_the_step():
    model = predictive()
    codec = Codec(model)
    deltas = torch.arange(TunedHead.parameter_count(model), dtype=torch.int8) - 30
    tuned = TunedHead(deltas).numerics(codec.exact, model)
    w0, b0 = codec.exact.parts(model.head.out)
    w1, b1 = tuned.parts(model.head.out)
    mask = TunedHead.mask(model)
    moved = torch.cat([(w1 - w0).flatten(1)[mask], b1 - b0]) * 2 ** TunedHead.STEP_BITS
    assert torch.equal(moved, deltas.double())
    assert torch.equal((w1 - w0).flatten(1)[~mask], torch.zeros(int((~mask).sum()), dtype=torch.float64))
    assert torch.equal(codec.exact.parts(model.head.out)[0], w0)      # the model's own arithmetic is untouched
    with pytest.raises(ValueError):
        TunedHead(deltas[:-1]).numerics(codec.exact, model)


def test_bad_tuning_headers_are_refused_cleanly():
    golden = golden_module()
    data = (DATA / "golden_tuned.pxc").read_bytes()
    codec = golden.golden_codec("golden_tuned.pxc")
    header = parse(data)[0]
    size = header.size
    at = size - 4 - 4 * len(header.stream_lengths) - 2 - header.side.tuned.deltas.numel()   # the tuning field

    def version(v):
        return lambda body: body.__setitem__(4, v)
    with pytest.raises(PixcodecError, match="flags"):               # flag 32 in a version-4 file
        parse(rewritten_header(data, version(4), size))
    with pytest.raises(PixcodecError):                              # a count that overruns the header
        parse(rewritten_header(data, lambda body: body.__setitem__(slice(at, at + 2), struct.pack("<H", 999)), size))
    other = Codec(tiny_model("pixelcnn", 3, hidden=12, head="predictive"), tile=8, group=2)
    with pytest.raises(PixcodecError, match="head deltas"):         # 60 deltas for a larger layer
        other.decompress(rewritten_header(data[:6] + other.id + data[22:], lambda body: None, size))
    softmax = Codec(tiny_model("pixelcnn", 3), tile=8, group=2)
    with pytest.raises(PixcodecError, match="head deltas"):
        softmax.decompress(rewritten_header(data[:6] + softmax.id + data[22:], lambda body: None, size))
    assert torch.equal(codec.decompress(data)[0], golden.golden_tuned_image())


def test_damaged_tuned_files_decode_exactly_or_fail_cleanly():
    golden = golden_module()
    codec, data = golden.golden_codec("golden_tuned.pxc"), (DATA / "golden_tuned.pxc").read_bytes()
    fuzz(lambda d: codec.decompress(d)[0], data, golden.golden_tuned_image(), 60, seed=5)

