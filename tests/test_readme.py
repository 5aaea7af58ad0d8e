"""README.md as a user reads it: every `pixcodec ...` command it shows exists with the options it
uses; the cheap ones run on tiny images and give their pixels back; its results table is the one
benchmarks/readme_results.py makes from benchmarks/results/."""
import importlib.util
import shlex
import subprocess
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from pixcodec.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# Commands run on tiny images, in this order: what they need comes from the ones before.
RUN = ["pixcodec models", "pixcodec compress photo.png --verify", "pixcodec decompress photo.pxc -o back.png",
       "pixcodec info photo.pxc", "cat a.png | pixcodec compress - -o - > a.pxc", "pixcodec decompress a.pxc -o a.tif",
       "pixcodec compress photos/ --out-dir pxc/ --resume"]


def shell_lines() -> list[str]:
    """The lines of README's bash blocks, continuations joined, comments dropped."""
    lines, inside, pending = [], False, ""
    for line in README.splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```bash"
            continue
        if inside:
            pending += line.rstrip("\\").strip() + " "
            if not line.endswith("\\"):
                lines.append(pending.split("  #")[0].split(" # ")[0].strip())
                pending = ""
    return lines


def commands() -> list[list[str]]:
    """Every pixcodec invocation: its arguments after `pixcodec` or `-m pixcodec.cli`."""
    found = []
    for line in shell_lines():
        words = shlex.split(line)
        for start, word in enumerate(words):
            if word == "pixcodec" or (word == "pixcodec.cli" and words[start - 1] == "-m"):
                args = words[start + 1:]
                cut = next((i for i, w in enumerate(args) if w in ("|", ">", "&&")), len(args))
                found.append(args[:cut])
    return found


def test_the_readme_shows_commands_of_every_kind():
    names = {args[0] for args in commands()}
    assert {"compress", "decompress", "info", "train", "eval", "sample", "bench", "demo", "models", "export"} <= names
    assert all(line in shell_lines() for line in RUN)


@pytest.mark.parametrize("args", commands(), ids=lambda args: " ".join(args)[:60])
def test_every_readme_command_and_option_exists(args):
    with click.Context(app) as ctx:
        command = app.get_command(ctx, args[0])
    assert command is not None, f"no command {args[0]}"
    options = {o for p in command.params if isinstance(p, click.Option) for o in p.opts + p.secondary_opts}
    used = {w.split("=")[0] for w in args[1:] if w.startswith("-") and w != "-" and not w[1:2].isdigit()}
    assert used <= options, f"pixcodec {args[0]} has no {sorted(used - options)}"


def test_the_cheap_commands_run_and_give_the_pixels_back(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    gradient = (np.add.outer(np.arange(12), np.arange(16)) * 9 % 256).astype(np.uint8)
    images = {"photo.png": np.stack([gradient, gradient // 2, 255 - gradient], 2),
              "a.png": rng.integers(0, 256, (9, 7, 3), dtype=np.uint8),
              "photos/one.png": gradient, "photos/sub/two.png": gradient.T.copy()}
    for name, pixels in images.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    for line in RUN:
        words = shlex.split(line)
        args, target = words[words.index("pixcodec") + 1:], None
        if ">" in args:
            args, target = args[:args.index(">")], args[args.index(">") + 1]
        stdin = Path(words[1]).read_bytes() if words[0] == "cat" else None
        result = CliRunner().invoke(app, args, input=stdin)
        assert result.exit_code == 0, f"{line}: {result.output}"
        if target is not None:
            Path(target).write_bytes(result.stdout_bytes)
    assert np.array_equal(np.asarray(Image.open("back.png")), images["photo.png"])
    assert np.array_equal(np.asarray(Image.open("a.tif")), images["a.png"])
    assert sorted(str(p.relative_to("pxc")) for p in Path("pxc").rglob("*.pxc")) == ["one.pxc", "sub/two.pxc"]


def test_the_results_table_is_generated_from_the_results():
    spec = importlib.util.spec_from_file_location("readme_results", ROOT / "benchmarks" / "readme_results.py")
    results = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(results)
    if subprocess.run(["git", "rev-parse"], cwd=ROOT, capture_output=True).returncode:
        pytest.skip("the table's dates come from git, and this is not a checkout")
    assert results.replaced(README, results.table()) == README, "run python benchmarks/readme_results.py --write"
    for name in results.SOURCES.values():
        assert f"`{name}`" in README
