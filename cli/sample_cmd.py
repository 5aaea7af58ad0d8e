"""`pixcodec sample`: draw images, or complete one, through the codec's own decoding engine."""
from __future__ import annotations

import sys
from pathlib import Path

import click
import torch

from pixcodec import checkpoint, engine
from pixcodec.imageio import png_bytes, read_image, refuse_existing, write_new
from pixcodec.numerics import ExactNumerics

NAMED_SIZES = {"mnist": 28, "fashion-mnist": 28, "cifar10": 32}


def default_size(state: dict) -> int:
    train = state.get("data", {}).get("train", {})
    spec = str(train.get("spec", ""))
    return train.get("crop") or NAMED_SIZES.get(spec) or 32


@click.command("sample")
@click.argument("ckpt", type=click.Path(dir_okay=False))
@click.option("-n", "count", type=click.IntRange(1, 1024), default=16, show_default=True, help="Images to draw.")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="PNG grid to write.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--size", type=click.IntRange(1, 4096), default=None,
              help="Side of the square samples [default: the training image or crop size].")
@click.option("--complete", "complete", type=click.Path(dir_okay=False), default=None,
              help="Keep the top of this image and sample the rest (image completion).")
@click.option("--keep-rows", type=click.IntRange(0), default=None, help="Rows of --complete kept [default: half].")
@click.option("--force", is_flag=True, help="Overwrite --out.")
def command(ckpt, count, out, seed, size, complete, keep_rows, force):
    """Sample from a model; with --complete, the first row of the grid is the original."""
    refuse_existing(out, force)
    state = checkpoint.load(ckpt)
    model = checkpoint.build_model(state)
    exact = ExactNumerics(model)
    known, rows = None, 0
    if complete:
        image, _ = read_image(complete)
        if image.shape[0] != model.in_channels:
            raise click.UsageError(f"--complete needs a {model.in_channels}-channel image")
        height, width = image.shape[1:]
        rows = height // 2 if keep_rows is None else min(keep_rows, height)
        known = image[None].expand(count, -1, -1, -1)
    else:
        height = width = size or default_size(state)
    generator = torch.Generator().manual_seed(seed)

    def choose(logits, c, rows_, cols_):
        drawn = torch.multinomial(exact.probabilities(logits), 1, generator=generator)[:, 0].to(torch.uint8)
        if known is None:
            return drawn
        kept = known[:, c, rows_, cols_].reshape(-1)
        return torch.where((rows_ < rows).repeat(count), kept, drawn)

    with click.progressbar(length=height, label="sampling", file=sys.stderr) as bar:
        samples = engine.run(model, exact, count, height, width, choose, on_row=lambda _: bar.update(1))
    if known is not None:
        samples = torch.cat([known[:1], samples])
    import torchvision.utils   # here, not at the top: importing torchvision costs every command 1.5 s

    grid = torchvision.utils.make_grid(samples, nrow=count + 1 if known is not None else int(count ** 0.5 + 0.999),
                                       padding=2, pad_value=255)
    if model.in_channels == 1:
        grid = grid[:1]                        # make_grid repeats a gray channel three times
    write_new(Path(out), png_bytes(grid, "RGB" if model.in_channels == 3 else "L"), force)
    click.echo(f"wrote {out}: {count} samples of {width}x{height}" + (f", first {rows} rows kept" if known is not None else ""))
