"""Folders: the same bytes for any --jobs, --threads or number of torchrun ranks, resuming an
interrupted run, and progress that tells the truth."""
import io
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from pixcodec.codec import Codec
from pixcodec.pxc import parse

from conftest import structured_images, tiny_model
from test_cli_codec import GOLDEN_MODEL, clean_error, run



@pytest.fixture()
def folder(tmp_path):
    """Four images big enough (in 8x8 tiles) that the encoder's float fits run."""
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    for i, pixels in enumerate(structured_images(4, 3, 40, 48, seed=5)):
        Image.fromarray(pixels).save(images / ("sub" if i == 3 else ".") / f"img{i}.png")
    return tmp_path


def outputs(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.pxc"))}


COMPRESS = ["-m", GOLDEN_MODEL, "--tile", "8", "-e", "3"]


def test_jobs_and_threads_give_identical_bytes(folder):
    images = folder / "images"
    for name, extra in (("one", ["-j", "1"]), ("two", ["-j", "2"]), ("threads", ["-j", "1", "-t", "2"])):
        result = run("compress", images, "--out-dir", folder / name, *COMPRESS, *extra)
        assert result.exit_code == 0, result.output
        assert "total: 4 coded" in result.stdout
    one = outputs(folder / "one")
    assert len(one) == 4 and one == outputs(folder / "two") == outputs(folder / "threads")
    assert any(parse(data)[0].side.mixing for data in one.values())      # through context mixing
    result = run("decompress", folder / "one", "--out-dir", folder / "back", "-m", GOLDEN_MODEL, "-j", "2")
    assert result.exit_code == 0, result.output
    for path in (folder / "back").rglob("*.png"):
        original = images / path.relative_to(folder / "back")
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(original)))


def test_the_fits_give_the_same_bytes_at_any_thread_count():
    """The channel fit runs and is kept on this image (an untrained model, wrong everywhere in
    the same way); a float reduction split across threads would move their values."""
    from test_channel_deltas import picture
    model = tiny_model("pixelcnn", 3, head="predictive")
    image = picture(48, 40, seed=3)
    files = []
    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 1, 2):
            torch.set_num_threads(threads)
            files.append(Codec.at_effort(model, 3, tile=8).compress(image).data)
    finally:
        torch.set_num_threads(before)
    side = parse(files[0])[0].side
    assert side.deltas is not None, "the fit must be kept for this test to mean anything"
    assert files[0] == files[1] == files[2] == files[3]


def test_resume_skips_what_is_done_and_redoes_the_rest(folder):
    images, out = folder / "images", folder / "out"
    assert run("compress", images, "--out-dir", out, *COMPRESS, "-e", "1").exit_code == 0
    done = outputs(out)
    (out / "img1.pxc").unlink()                                  # interrupted before this one
    damaged = bytearray(done["img2.pxc"])
    damaged[-1] ^= 1
    (out / "img2.pxc").write_bytes(bytes(damaged))
    again = run("compress", images, "--out-dir", out, *COMPRESS, "-e", "1", "--resume")
    assert again.exit_code == 1 and "img2.pxc exists" in again.stderr      # a bad one is not replaced quietly
    assert "img0.png -> " in again.stdout and "skipped" in again.stdout
    assert (out / "img1.pxc").read_bytes() == done["img1.pxc"]
    fixed = run("compress", images, "--out-dir", out, *COMPRESS, "-e", "1", "--resume", "-f")
    assert fixed.exit_code == 0 and "3 already done" in fixed.stdout
    assert outputs(out) == done
    back = run("decompress", out, "--out-dir", folder / "back", "-m", GOLDEN_MODEL)
    assert back.exit_code == 0
    resumed = run("decompress", out, "--out-dir", folder / "back", "-m", GOLDEN_MODEL, "--resume")
    assert resumed.exit_code == 0 and resumed.stdout.count("skipped") == 4


def test_torchrun_shards_a_folder_across_two_gloo_processes(folder):
    images = folder / "images"
    assert run("compress", images, "--out-dir", folder / "alone", *COMPRESS).exit_code == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
              "-m", "pixcodec.cli"]
    done = subprocess.run([*launch, "compress", images, "--out-dir", folder / "ranks", *map(str, COMPRESS)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout + done.stderr[:4000]
    assert "[rank 0]" in done.stdout and "[rank 1]" in done.stdout and "total: 4 coded" in done.stdout
    assert outputs(folder / "ranks") == outputs(folder / "alone")
    (folder / "ranks" / "img0.pxc").unlink()
    again = subprocess.run([*launch, "compress", images, "--out-dir", folder / "ranks", *map(str, COMPRESS),
                            "--resume"], capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "3 already done" in again.stdout and outputs(folder / "ranks") == outputs(folder / "alone")


def test_a_folder_goes_on_past_a_bad_file(folder):
    images = folder / "images"
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk")
    result = run("compress", images, "--out-dir", folder / "out", *COMPRESS, "-e", "1", "-j", "2")
    assert result.exit_code == 1 and "broken.png" in result.stderr and "4 coded, 1 failed" in result.stdout
    assert len(outputs(folder / "out")) == 4


def test_progress_only_on_a_terminal_with_measured_etas(monkeypatch):
    from pixcodec.cli.progress_bar import Bar, FolderCount

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    shown = Terminal()
    bar = Bar(shown).start("x.png", "")
    bar.phase("coding", 4)
    assert "coding 0/4" in shown.getvalue() and "ETA" not in shown.getvalue()   # no rate yet, no guess
    for row in range(2):
        bar.draw(force=True) if row else None
        bar(row)
    bar.draw(force=True)
    assert "2/4  50%, ETA" in shown.getvalue()
    quiet = io.StringIO()
    Bar(quiet).start("x.png").phase("coding", 4)
    assert quiet.getvalue() == ""
    count = FolderCount([100, 300])
    assert count.text() == "[0/2] "
    count.finished(0)
    assert count.text().startswith("[1/2, folder ETA ")


def test_torchrun_refuses_standard_output(folder, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    clean_error(run("compress", folder / "images" / "img0.png", "-o", "-", *COMPRESS), "torchrun")


def test_demo_prints_one_table_and_says_where_it_loses(monkeypatch):
    from pixcodec.cli import demo_cmd
    rows = [{"name": "a (4x4 RGB)", "subpixels": 48, "pixcodec": (30, 1.0, 0.5), "png": (40, 0.01, 0.001),
             "webp": (25, 0.02, 0.002)}]
    table = demo_cmd.table(rows, ["pixcodec", "png", "webp"])
    assert table.count("\n") == 3 and "| total |" in table and "5.000 (30)" in table
    verdict = demo_cmd.verdict(rows, ["pixcodec", "png", "webp"])
    assert "loses to WebP on a" in verdict and "smaller than PNG on every sample" in verdict


@pytest.mark.skipif(shutil.which("nproc") is None, reason="needs nproc")
def test_jobs_never_take_more_threads_than_cores():
    from pixcodec.cli.common import threads_for
    from pixcodec.threads import cores
    assert threads_for(2, 8, 10) * 2 <= max(cores(), 2)
    assert threads_for(1, 3, 10) == 3 and threads_for(4, 2, 1) == 2     # one file: one process
