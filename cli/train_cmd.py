"""`pixcodec train`: fit a registered model by maximum likelihood."""
from __future__ import annotations

import json

import click
from click.core import ParameterSource

from pixcodec.training.run_config import resolve
from pixcodec.training.train import train

from .common import set_threads_option
from .options import data_dir_option, download_option, hparam_option, model_option


@click.command("train")
@model_option
@hparam_option
@click.option("--data", default="mnist", show_default=True,
              help="mnist, fashion-mnist, cifar10, cifar10-npz:PATH or a folder of images.")
@data_dir_option
@download_option
@click.option("--exclude", multiple=True, metavar="PATTERN",
              help="Leave out a folder's images whose name or relative path matches this glob "
                   "(repeatable), e.g. copies of the photos you will test on.")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None,
              help="Force gray (1) or RGB (3) for folders; default: RGB if any image is colour.")
@click.option("--crop", type=click.IntRange(1), default=None,
              help="Train on random square crops of this size (folders default to 64).")
@click.option("--augment", type=click.Choice(["none", "flip", "dihedral"]), default="none", show_default=True,
              help="Random symmetries of each training image, drawn from its crop's seed: flip mirrors "
                   "left-right; dihedral also mirrors top-bottom and turns a quarter (8 in all).")
@click.option("--init", type=click.Path(dir_okay=False), default=None,
              help="Start a new run from this checkpoint's weights (fine-tuning); --model and -H "
                   "default to its own. Its optimizer state and step count are not carried over.")
@click.option("--steps", type=click.IntRange(1), default=None, help="Optimizer steps in all [default: 1 epoch].")
@click.option("--epochs", type=click.FloatRange(0, min_open=True), default=None, help="Epochs in all (instead of --steps).")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True,
              help="Global batch size, split across torchrun processes.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True, help="Adam learning rate.")
@click.option("--lr-schedule", type=click.Choice(["constant", "cosine"]), default="constant", show_default=True,
              help="cosine: decay the rate to zero over --steps (set --steps; --minutes only caps the run).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--eval-every", type=click.IntRange(0), default=500, show_default=True, help="Steps between held-out evaluations (0: only at the end).")
@click.option("--eval-images", type=click.IntRange(0), default=1000, show_default=True, help="Held-out test images per evaluation.")
@click.option("--save-every", type=click.IntRange(0), default=500, show_default=True, help="Steps between checkpoints (0: only at the end).")
@click.option("--minutes", type=click.FloatRange(0, min_open=True), default=None, help="Stop (and save) once the run has trained this many minutes in all (a resumed run counts its earlier time).")
@click.option("--precision", type=click.Choice(["auto", "fp32"]), default="auto", show_default=True,
              help="auto: bf16 autocast on CUDA, float32 on CPU; fp32: float32 on CUDA too (no TF32).")
@click.option("--workers", type=click.IntRange(0), default=0, show_default=True, help="DataLoader worker processes.")
@click.option("--condition", type=click.Choice(["none", "class"]), default="none", show_default=True,
              help="class: a class-conditional model (labelled data; the labels' one-hot vector biases "
                   "every layer).")
@click.option("--latent-warmup", type=click.IntRange(0), default=0, show_default=True,
              help="Auto-encoders: raise the weight of bits(z) in the loss from 0 to 1 over this many steps, "
                   "so the decoder learns to use z before z has to pay for itself (the reported rate is "
                   "always the true one).")
@click.option("--free-bits", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Auto-encoders with a code latent: charge bits(z) no less than this many bits per latent "
                   "value (batch average), so the rate stops pulling while z carries less (free bits).")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Checkpoint to write.")
@click.option("--resume", is_flag=True, help="Continue the run saved in --out.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing --out with a new run.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the final evaluation as one JSON line.")
@set_threads_option
@click.pass_context
def command(ctx, out, resume, force, quiet, as_json, **options):
    """Train a model; the checkpoint records everything needed to resume or evaluate it."""
    if options["steps"] is not None and options["epochs"] is not None:
        raise click.UsageError("give --steps or --epochs, not both")
    options["channels"] = int(options["channels"]) if options["channels"] else None
    options["exclude"] = list(options["exclude"])
    given = {name for name in options if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE}
    config = resolve(options, given, out, resume, force)
    result = train(config, out, resume=resume, echo=click.echo, progress=not quiet)
    if as_json and "eval_bpd" in result:
        click.echo(json.dumps({"checkpoint": str(out), **result}))
