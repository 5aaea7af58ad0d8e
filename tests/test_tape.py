"""The encoder's second pass plays back the first pass's network outputs (pixcodec/exact/tape.py)."""
import pytest
import torch

from conftest import structured_images, tiny_model
from pixcodec.exact import engine, tape
from pixcodec.codec import Codec
from pixcodec.exact.numerics import ExactNumerics
from pixcodec.pxc import parse


def run_collecting(model, exact, x, sizes, tapes, replay, coded=3):
    """run_parts over parts of ``sizes`` images, recording to or playing back from ``tapes``;
    every choice's (part, channel, rows, cols, logits) in order."""
    seen, parts, first = [], [], 0
    for k, size in enumerate(sizes):
        def choose(logits, ch, rows, cols, xs=x[first:first + size], k=k):
            seen.append((k, ch, rows.tolist(), cols.tolist(), logits.clone()))
            return xs[:, ch, rows, cols].reshape(-1)
        record, play = tapes.part(tuple(range(first, first + size)))
        assert (play is not None) == replay or not tapes.recording
        parts.append(engine.Part(size, choose, None, record, play))
        first += size
    outs = engine.run_parts(model, exact, parts, x.shape[2], x.shape[3], coded=coded, ahead=True)
    assert torch.equal(torch.cat(outs)[:, :coded], x[:, :coded])
    return seen


@pytest.mark.parametrize("head", ["softmax", "predictive"])
@pytest.mark.parametrize("coded", [3, 1])
def test_played_back_logits_are_the_computed_ones_in_the_same_order(head, coded):
    model = tiny_model("pixelcnn", 3, head=head)
    exact = ExactNumerics(model)
    x = torch.randint(0, 256, (5, 3, 6, 9), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    if coded == 1:
        x[:, 1] = x[:, 2] = x[:, 0]
    tapes = tape.Tapes()
    recorded = run_collecting(model, exact, x, [2, 3], tapes, replay=False, coded=coded)
    assert tapes.recording and all(t.blocks for t in tapes.parts.values())
    played = run_collecting(model, exact, x, [2, 3], tapes, replay=True, coded=coded)
    assert len(recorded) == len(played) > 9
    assert [s[:4] for s in played] == [s[:4] for s in recorded]
    assert all(torch.equal(a[4], b[4]) for a, b in zip(played, recorded))


def test_tapes_keep_nothing_past_their_budget_and_parts_of_other_tiles_are_not_played():
    model = tiny_model("pixelcnn", 3, head="predictive")
    exact = ExactNumerics(model)
    x = torch.randint(0, 256, (2, 3, 5, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    tapes = tape.Tapes(budget=1000)
    run_collecting(model, exact, x, [2], tapes, replay=False)
    assert not tapes.recording and tapes.parts == {} and tapes.part((0, 1)) == (None, None)
    tapes = tape.Tapes()
    run_collecting(model, exact, x, [2], tapes, replay=False)
    assert tapes.part((0, 1))[1] is not None and tapes.part((0,))[1] is None


def test_a_state_that_cannot_record_leaves_the_tapes_void():
    model = tiny_model("gated_pixelcnn", 3)
    x = torch.randint(0, 256, (1, 3, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(6))
    tapes = tape.Tapes()
    run_collecting(model, ExactNumerics(model), x, [1], tapes, replay=False)
    assert not tapes.recording and tapes.part((0,)) == (None, None)


@pytest.mark.parametrize("effort", [2, 3])
def test_the_second_pass_plays_the_first_back_and_writes_the_same_bytes(monkeypatch, effort):
    """A picture whose tiles want their own sharpness is coded twice (at effort 3 also without
    the stage, and without the tuned head); played back or computed again, every later pass
    writes the same file, which decodes exactly."""
    model = tiny_model("pixelcnn", 3, head="predictive")
    img = torch.from_numpy(structured_images(1, 3, 24, 40, seed=2)[0]).permute(2, 0, 1).contiguous()
    img[:, :, 20:] = 128                         # half flat: a sharper model pays there
    codec = Codec.at_effort(model, effort, tile=8, group=4)
    played = []
    monkeypatch.setattr(tape.Tape, "state", lambda self, *a, original=tape.Tape.state: played.append(1) or original(self, *a))
    data = codec.compress(img).data
    assert parse(data)[0].side.sharpness is not None and played
    monkeypatch.setattr(tape, "TAPE_BYTES", 0)
    played.clear()
    assert codec.compress(img).data == data and not played
    assert torch.equal(Codec(model, tile=8, group=3).decompress(data)[0], img)
