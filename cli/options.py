"""Option types shared by several commands."""
from __future__ import annotations

import os

import click

from pixcodec import models

DATA_DIR_DEFAULT = os.environ.get("PIXCODEC_DATA_DIR", "data")


def parse_value(text: str):
    """'3' -> 3, '0.5' -> 0.5, 'true' -> True; anything else stays a string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_hparams(ctx, param, values) -> dict:
    hparams = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", ctx=ctx, param=param)
        hparams[key.strip().replace("-", "_")] = parse_value(value.strip())
    return hparams


model_option = click.option("--model", type=click.Choice(models.all_names()), default="gated_pixelcnn",
                            show_default=True, help="Registered model (see `pixcodec models`).")
hparam_option = click.option("-H", "--hparam", "hparams", multiple=True, callback=parse_hparams,
                             metavar="KEY=VALUE", help="Model hyperparameter, repeatable, e.g. -H hidden=64.")
data_dir_option = click.option("--data-dir", default=DATA_DIR_DEFAULT, show_default=True,
                               type=click.Path(file_okay=False),
                               help="Parent folder of the named datasets (env PIXCODEC_DATA_DIR).")
download_option = click.option("--download", is_flag=True,
                               help="Let torchvision download a missing named dataset (off: nothing is fetched).")
