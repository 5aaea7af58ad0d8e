"""`pixcodec models`: the registry, with every hyperparameter and its default."""
import click

from pixcodec import models


@click.command("models")
def command():
    """List registered models and their hyperparameters."""
    for name in models.all_names():
        params = ", ".join(f"{k}={v}" for k, v in models.hyperparameters(name).items())
        click.echo(f"{name}: {params}")
