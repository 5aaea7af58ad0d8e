"""Files coded through the context-mixing stage (format versions 11 and 12, the stage's
revisions 1 and 2): exact round trips on
awkward shapes, with value sets and palettes, the same bytes across threads and runs, golden
files, and damaged or forged files refused."""

import numpy as np
import pytest
import torch

from pixcodec import api
from pixcodec.codec import EFFORTS, Codec
from pixcodec.errors import PixcodecError
from pixcodec.pxc import parse
from pixcodec.pxc.header import FIXED

from conftest import fuzz, header_lies, rewritten_header, structured_images, tiny_model
from test_cli_codec import clean_error, run
from test_codec import DATA, golden_module
from test_online import strokes


def picture(channels: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(structured_images(1, channels, h, w, seed)[0]).permute(2, 0, 1).contiguous()


@pytest.mark.parametrize("revision", [1, 2])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (65, 3), (13, 11)])
def test_round_trip_through_context_mixing_is_exact(model_name, channels, shape, revision):
    codec = Codec(tiny_model(model_name, channels), tile=4, group=3, fallback=False, cm=revision)
    img = picture(channels, *shape, seed=sum(shape))
    data = codec.compress(img).data
    header = parse(data)[0]
    assert header.version == 10 + revision and header.side.mixing.revision == revision and not header.side.online
    assert torch.equal(codec.decompress(data)[0], img)


def test_context_mixing_learns_what_the_network_cannot():
    model = tiny_model("pixelcnn", 3)
    img = strokes(21, 30)
    options = dict(tile=8, group=3, fallback=False, value_sets=False, palette=False, sharpness=False)
    plain = Codec(model, **options, online=False).compress(img).data
    online = Codec(model, **options).compress(img).data
    for revision in (1, 2):
        mixed = Codec(model, **options, cm=revision).compress(img).data
        assert len(mixed) < len(plain) / 5 and len(mixed) < len(online) / 2


def test_the_bytes_do_not_depend_on_threads_and_every_grouping_decodes():
    model = tiny_model("gated_pixelcnn", 3)
    img = picture(3, 19, 23, seed=5)
    threads, files = torch.get_num_threads(), {}
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            for group in (1, 4, 300):
                files[n, group] = Codec(model, tile=8, group=group, cm=2).compress(img).data
        for (n, group), data in files.items():
            torch.set_num_threads(3 - n)
            assert torch.equal(Codec(model, tile=8).decompress(data)[0], img)
    finally:
        torch.set_num_threads(threads)
    assert all(files[1, g] == files[2, g] for g in (1, 4, 300))
    assert Codec(model, tile=8, group=4, cm=2).compress(img).data == files[1, 4]       # and every run


@pytest.mark.parametrize("revision", [1, 2])
@pytest.mark.parametrize("make, section", [("golden_levels_image", "values"), ("golden_palette_image", "palette")])
def test_value_sets_and_palettes_restrict_the_stage(make, section, revision):
    """Values outside a pixel's options get no weight: the stage never codes their bits, and
    the channels a palette fixes are not coded at all, yet reach the later channels' contexts."""
    img = getattr(golden_module(), make)()
    codec = Codec(tiny_model("gated_pixelcnn", 3), tile=8, group=2, cm=revision)
    data = codec.compress(img).data
    header = parse(data)[0]
    assert getattr(header.side, section) is not None and header.side.mixing.revision == revision
    assert torch.equal(codec.decompress(data)[0], img)
    unrestricted = Codec(tiny_model("gated_pixelcnn", 3), tile=8, group=2, cm=revision, value_sets=False, palette=False)
    other = unrestricted.compress(img).data
    assert len(data) - header.size < len(other) - parse(other)[0].size          # the streams: bits forced


@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (17, 1), (65, 3)])
def test_every_effort_with_the_stage_round_trips(shape):
    model = tiny_model("pixelcnn", 3, head="predictive")
    img = picture(3, *shape, seed=1)
    for effort in EFFORTS:
        data = api.compress(img.permute(1, 2, 0).numpy(), model, tile=8, effort=effort)
        header = parse(data)[0]
        assert not header.side.online and (effort > 1 or not header.side.mixing)
        assert np.array_equal(api.decompress(data, model), img.permute(1, 2, 0).numpy())


GOLDEN_CM = {"golden_cm.pxc": "golden_online_image", "golden_cm_palette.pxc": "golden_palette_image",
             "golden_cm_gray.pxc": "golden_levels_image", "golden_cm2.pxc": "golden_online_image",
             "golden_cm2_palette.pxc": "golden_palette_image", "golden_cm2_gray.pxc": "golden_levels_image",
             "golden_cm3.pxc": "golden_online_image", "golden_cm3_palette.pxc": "golden_palette_image",
             "golden_cm3_gray.pxc": "golden_levels_image"}


@pytest.mark.parametrize("name", GOLDEN_CM)
def test_golden_context_mixing_files_decode_and_re_encode_byte_for_byte(name):
    """Version 11: repeated strokes through the stage (golden_cm.pxc), a palette's restricted
    channels (golden_cm_palette.pxc), and a gray RGB picture among its 16 values
    (golden_cm_gray.pxc); versions 12 and 13: the same through revisions 2 and 3 (golden_cm2*.pxc,
    golden_cm3*.pxc)."""
    golden = golden_module()
    codec, data = golden.golden_codec(name), (DATA / name).read_bytes()
    picture = getattr(golden, GOLDEN_CM[name])()
    header, revision = parse(data)[0], golden.cm_revision(name)
    assert header.version == 10 + revision and header.side.mixing.revision == revision and not header.side.online
    assert torch.equal(codec.decompress(data)[0], picture)
    assert codec.compress(picture).data == data


@pytest.mark.parametrize("name", ["golden_cm.pxc", "golden_cm2.pxc", "golden_cm3.pxc"])
def test_damaged_context_mixing_files_are_refused_or_decode_exactly(name):
    golden = golden_module()
    codec, data = golden.golden_codec(name), (DATA / name).read_bytes()
    refused = fuzz(lambda d: codec.decompress(d)[0], data, golden.golden_online_image(), 150, seed=11,
                   truncate_every=3, max_flips=3)
    assert refused >= 140


@pytest.mark.parametrize("name", ["golden_cm.pxc", "golden_cm2.pxc", "golden_cm3.pxc"])
def test_forged_context_mixing_headers_fail_cleanly(name):
    golden = golden_module()
    codec, data = golden.golden_codec(name), (DATA / name).read_bytes()
    size = parse(data)[0].size
    for forged in header_lies(data, size, 200, seed=5):
        try:
            out = codec.decompress(forged)[0]
        except PixcodecError:
            continue
        assert torch.equal(out, golden.golden_online_image())
    flags = FIXED.size                   # the first flags byte

    def with_online(body):          # context mixing and online mixing together: refused
        body[flags] |= 128

    def with_both_revisions(body):  # two revisions of the stage: refused
        body[flags + 1] |= 12

    def as_older_version(body):     # a version that has no such context mixing
        body[4] -= 1
    for edit, message in ((with_online, "flags"), (with_both_revisions, "flags"), (as_older_version, "flags")):
        with pytest.raises(PixcodecError, match=message):
            codec.decompress(rewritten_header(data, edit, size))


def test_compress_at_the_default_effort_codes_through_the_stage(tmp_path):
    from PIL import Image

    from pixcodec import checkpoint
    checkpoint.save(tmp_path / "m.pt", tiny_model("pixelcnn", 3))
    Image.fromarray(strokes(12, 20).permute(1, 2, 0).numpy()).save(tmp_path / "s.png")
    result = run("compress", tmp_path / "s.png", "-m", tmp_path / "m.pt", "-o", tmp_path / "s.pxc", "--verify")
    assert result.exit_code == 0, result.stderr
    info = run("info", tmp_path / "s.pxc").stdout
    assert "context_mixing       revision 3" in info and "online_mixing        False" in info, info
    clean_error(run("decompress", tmp_path / "s.pxc", "-m", tmp_path / "m.pt", "-o", tmp_path / "s.png"), "exists")
    assert run("decompress", tmp_path / "s.pxc", "-m", tmp_path / "m.pt", "-o", tmp_path / "back.png").exit_code == 0
    assert np.array_equal(np.array(Image.open(tmp_path / "back.png")), strokes(12, 20).permute(1, 2, 0).numpy())


def test_the_network_ahead_of_the_stage_changes_no_byte(monkeypatch):
    """A colour image of 9 tiles in one group: the codec runs the network ahead of the stage
    (codec.runs_ahead); forced to run them in turn it writes and reads the same bytes."""
    from pixcodec import codec as codec_module
    from pixcodec.exact import engine
    model = tiny_model("pixelcnn", 3)
    img = picture(3, 24, 24, seed=7)
    plan = next(codec_module.tiling_plan(24, 24, 8, 300, None))
    assert len(plan) == 9
    assert codec_module.runs_ahead(object(), 3, plan) and not codec_module.runs_ahead(object(), 1, plan)
    assert len(codec_module.lockstep_parts(plan, True)) == 2
    codec = Codec(model, tile=8, group=300, cm=3)
    ahead = codec.compress(img).data
    run_parts, calls = engine.run_parts, []

    def in_turn(*args, **kwargs):
        calls.append(kwargs.get("ahead"))
        return run_parts(*args, **{**kwargs, "ahead": False})
    monkeypatch.setattr(engine, "run_parts", in_turn)
    assert codec.compress(img).data == ahead and torch.equal(codec.decompress(ahead)[0], img)
    assert calls and all(calls)
