"""`pixcodec eval`: exact bits/dim of a checkpoint on a dataset."""
from __future__ import annotations

import json
import sys

import click

from pixcodec import checkpoint
from pixcodec.training.conditioning import ClassCondition
from pixcodec.training.data import open_dataset
from pixcodec.training.distributed import Distributed
from pixcodec.training.likelihood import evaluate

from .common import set_threads_option
from .options import DATA_DIR_DEFAULT, download_option


@click.command("eval")
@click.argument("ckpt", type=click.Path(dir_okay=False))
@click.option("--data", default=None, help="Dataset spec [default: the one the checkpoint was trained on].")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help=f"Parent folder of the named datasets [default: the checkpoint's, else {DATA_DIR_DEFAULT}].")
@download_option
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True)
@click.option("--limit", type=click.IntRange(1), default=None, help="Evaluate only the first N images.")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one machine-readable JSON line.")
@set_threads_option
def command(ckpt, data, data_dir, download, split, limit, batch_size, as_json):
    """Print the pooled bits/dim of CKPT over whole images (float32, no autocast).

    A class-conditional model is scored given each image's label; an auto-encoder reports
    bits(z) + bits(x | z), both per subpixel of x."""
    state = checkpoint.load(ckpt)
    model = checkpoint.build_model(state)
    saved = state.get("config", {})
    data = data or saved.get("data")
    if data is None:
        raise click.UsageError("this checkpoint records no dataset: pass --data")
    data_dir = data_dir or saved.get("data_dir") or DATA_DIR_DEFAULT
    dataset = open_dataset(data, data_dir, split, model.in_channels, download)
    n = min(len(dataset), limit or len(dataset))
    device = Distributed.from_environment().device
    model.to(device)
    with click.progressbar(length=n, label="evaluating", file=sys.stderr) as bar:
        seen = [0]

        def advance(result):
            bar.update(result.images - seen[0])
            seen[0] = result.images

        condition = ClassCondition.of_checkpoint(state)
        items = (dataset[i] if condition else dataset[i][0] for i in range(n))
        result = evaluate(model, items, batch_size, device, on_batch=advance, condition=condition)
    kind = "class-conditional " if condition else ""
    given = " given the uncoded embedding" if getattr(model, "latent", None) == "vector" else ""
    if as_json:
        click.echo(json.dumps({"checkpoint": str(ckpt), "model": state["model"], "data": data, "split": split,
                               "conditional": bool(condition), **result.as_dict()}))
    else:
        click.echo(f"{result.bits_per_dim:.4f} {kind}bits/dim{result.split}{given} ({state['model']} on {data} {split}: "
                   f"{result.images} images, {result.subpixels} subpixels)")
