"""`pixcodec sample`: draw images, or complete one, through the codec's own decoding engine."""
from __future__ import annotations

import sys
from pathlib import Path

import click
import torch

from pixcodec import checkpoint
from pixcodec.exact import engine
from pixcodec.training.conditioning import ClassCondition
from pixcodec.errors import PixcodecError
from pixcodec.images.imageio import png_bytes, read_image, refuse_existing, write_new
from pixcodec.exact.numerics import ExactNumerics

from .common import set_threads_option

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
@click.option("--class", "label", default=None,
              help="Class-conditional models: draw every sample from this class (index or name).")
@click.option("--each-class", is_flag=True, help="Class-conditional models: one row of -n samples per class.")
@click.option("--interpolate", nargs=2, type=click.Path(dir_okay=False), default=None,
              help="Auto-encoders: decode -n images along the line between the latents of two images.")
@click.option("--reconstruct", is_flag=True,
              help="Auto-encoders: for each IMAGE a row of the original, -n draws from p(x | h(x)), "
                   "and the --baseline's reconstruction.")
@click.option("--baseline", type=click.Path(dir_okay=False), default=None,
              help="With --reconstruct: a conv_ae checkpoint whose reconstruction ends each row.")
@click.option("-f", "--force", is_flag=True, help="Overwrite --out.")
@click.argument("images", nargs=-1, type=click.Path(dir_okay=False))
@set_threads_option
def command(ckpt, count, out, seed, size, complete, keep_rows, label, each_class, interpolate, reconstruct,
            baseline, force, images):
    """Sample from a model; with --complete, the first row of the grid is the original.

    Auto-encoders draw z from their prior, then x given z; with --interpolate the grid is A,
    then x decoded at -n evenly spaced points from A's latent to B's, then B; with
    --reconstruct IMAGES..., one row an image: it, -n draws given its latent, the baseline's."""
    if bool(images) != reconstruct:
        raise click.UsageError("--reconstruct takes the images to reconstruct, and only it takes images")
    if baseline and not reconstruct:
        raise click.UsageError("--baseline goes with --reconstruct")
    refuse_existing(out, force)
    state = checkpoint.load(ckpt)
    model = checkpoint.build_model(state)
    if model.registry_name == "conv_ae":
        raise PixcodecError("a conv_ae draws nothing: it is the baseline, for --baseline beside a pixelcnn_ae")
    if reconstruct:
        if model.autoregressive:
            raise PixcodecError("--reconstruct needs an auto-encoder checkpoint (model pixelcnn_ae)")
        grid_images, nrow = reconstructions(model, images, count, baseline, torch.Generator().manual_seed(seed))
        return write_grid(out, grid_images, nrow, model.in_channels, force,
                          f"{len(images)} images, {count} draws each" + (" and the baseline's" if baseline else ""))
    condition = ClassCondition.of_checkpoint(state)
    if (label is not None or each_class) and condition is None:
        raise PixcodecError("--class and --each-class need a class-conditional model (train --condition class)")
    if complete and not model.autoregressive:
        raise PixcodecError("--complete needs an autoregressive model, not an auto-encoder")
    if interpolate and model.autoregressive:
        raise PixcodecError("--interpolate needs an auto-encoder checkpoint (model pixelcnn_ae)")
    generator = torch.Generator().manual_seed(seed)
    if not model.autoregressive:
        grid_images, nrow = autoencoder_samples(model, state, count, size, interpolate, generator)
        return write_grid(out, grid_images, nrow, model.in_channels, force,
                          f"{len(grid_images)} images" + (" along an interpolation" if interpolate else ""))
    samples, nrow, what = pixel_samples(model, state, condition, count, size, complete, keep_rows, label, each_class,
                                        generator)
    write_grid(out, samples, nrow, model.in_channels, force, what)


def pixel_samples(model, state, condition, count, size, complete, keep_rows, label, each_class, generator):
    """A pixel model's draws through the decoding engine, with --complete's original first:
    (images, images a row, what the grid shows)."""
    cond, nrow = None, None
    if condition is not None:
        labels = (torch.arange(len(condition)).repeat_interleave(count) if each_class else
                  torch.full((count,), condition.label(label)) if label is not None else
                  torch.arange(count) % len(condition))
        cond, nrow, count = condition.one_hot(labels), (count if each_class else None), len(labels)
    exact = ExactNumerics(model)
    known, rows = None, 0
    if complete:
        image, _, original = read_image(complete)
        if original is not None:
            raise click.UsageError("--complete needs an 8-bit gray or RGB image")
        if image.shape[0] != model.in_channels:
            raise click.UsageError(f"--complete needs a {model.in_channels}-channel image")
        height, width = image.shape[1:]
        rows = height // 2 if keep_rows is None else min(keep_rows, height)
        known = image[None].expand(count, -1, -1, -1)
    else:
        height = width = size or default_size(state)

    def choose(logits, c, rows_, cols_):
        drawn = torch.multinomial(exact.probabilities(logits), 1, generator=generator)[:, 0].to(torch.uint8)
        if known is None:
            return drawn
        kept = known[:, c, rows_, cols_].reshape(-1)
        return torch.where((rows_ < rows).repeat(count), kept, drawn)

    with click.progressbar(length=height, label="sampling", file=sys.stderr) as bar:
        samples = engine.run(model, exact, count, height, width, choose, cond=cond, on_row=lambda _: bar.update(1))
    if known is not None:
        samples, nrow = torch.cat([known[:1], samples]), count + 1
    return samples, nrow, (f"{count} samples of {width}x{height}" + (f", first {rows} rows kept" if known is not None else "")
                           + (f", {count // len(condition)} per class" if each_class else ""))


def draw(exact, generator):
    """A ``choose`` that samples each subpixel from the model's exact probabilities."""
    return lambda logits, c, rows, cols: torch.multinomial(exact.probabilities(logits), 1,
                                                           generator=generator)[:, 0].to(torch.uint8)


def reconstructions(ae, paths, count, baseline, generator):
    """(grid, row length): each image, ``count`` draws from p(x | h(x)), the baseline's output."""
    originals = torch.stack(same_size_images(paths, ae.in_channels, "--reconstruct"))   # (N, C, H, W)
    n, _, height, width = originals.shape
    with torch.no_grad():
        latent = ae.codes(originals).double() if ae.latent == "codes" else ae.encode(originals).double()
    exact = ExactNumerics(ae.decoder)
    cond = ae.decoder.condition(latent, height, width, exact).repeat_interleave(count, 0)
    with click.progressbar(length=height, label="sampling", file=sys.stderr) as bar:
        draws = engine.run(ae.decoder.pixelcnn, exact, n * count, height, width, draw(exact, generator),
                           cond=cond, on_row=lambda _: bar.update(1))
    rows = [originals[:, None], draws.view(n, count, *originals.shape[1:])]
    if baseline:
        other = checkpoint.load_model(baseline)
        if other.registry_name != "conv_ae" or other.in_channels != ae.in_channels:
            raise PixcodecError(f"--baseline needs a {ae.in_channels}-channel conv_ae checkpoint")
        with torch.no_grad():
            rows.append(other.eval().reconstruct(originals)[:, None])
    grid = torch.cat(rows, 1)                                                    # (N, 1 + K (+ 1), C, H, W)
    return grid.flatten(0, 1), grid.shape[1]


def same_size_images(paths, channels, option):
    images = []
    for path in paths:
        image, _, extra = read_image(path)
        if extra is not None or image.shape[0] != channels:
            raise PixcodecError(f"{option} needs 8-bit {'gray' if channels == 1 else 'RGB'} images: {path}")
        if images and image.shape != images[0].shape:
            raise PixcodecError(f"{option} needs images of one size: {path} is not {tuple(images[0].shape[1:])}")
        images.append(image)
    return images


def autoencoder_samples(ae, state, count, size, interpolate, generator):
    """(images, grid row length): z from the prior (or along A -> B), then x ~ p(x | z)."""
    exact = ExactNumerics(ae.decoder)
    if interpolate:
        a, b = same_size_images(interpolate, ae.in_channels, "--interpolate")
        height, width = a.shape[1:]
        with torch.no_grad():
            ends = ae.encode(torch.stack([a, b]))
        t = torch.linspace(0, 1, count).view(-1, *[1] * (ends.dim() - 1))
        latent = ends[:1] * (1 - t) + ends[1:] * t
        latent = latent.clamp(0, ae.levels - 1).round() if ae.latent == "codes" else latent
    elif ae.latent == "codes":
        height = width = size or default_size(state)
        f = ae.factor
        prior_exact = ExactNumerics(ae.prior)
        z = engine.run(ae.prior, prior_exact, count, -(-height // f), -(-width // f), draw(prior_exact, generator))
        latent = ae.from_image(_snap(z, ae)).double()
    else:
        raise PixcodecError("an auto-encoder with a vector latent has no prior to sample from: "
                            "use --interpolate or --reconstruct")
    cond = ae.decoder.condition(latent.double(), height, width, exact)
    with click.progressbar(length=height, label="sampling", file=sys.stderr) as bar:
        x = engine.run(ae.decoder.pixelcnn, exact, count, height, width, draw(exact, generator), cond=cond,
                       on_row=lambda _: bar.update(1))
    if interpolate:
        return torch.cat([a[None], x, b[None]]), count + 2
    return x, None


def _snap(z: torch.Tensor, ae) -> torch.Tensor:
    """A prior draw off the level grid (the softmax keeps a little mass there) -> nearest level."""
    levels = (z.double() * ((ae.levels - 1) / 255)).round().long()
    return ae.symbols[levels]


def write_grid(out, images, nrow, channels, force, what):
    import torchvision.utils   # here, not at the top: importing torchvision costs every command 1.5 s

    grid = torchvision.utils.make_grid(images, nrow=nrow or int(len(images) ** 0.5 + 0.999), padding=2, pad_value=255)
    if channels == 1:
        grid = grid[:1]                        # make_grid repeats a gray channel three times
    write_new(Path(out), png_bytes(grid, "RGB" if channels == 3 else "L"), force)
    click.echo(f"wrote {out}: {what}")
