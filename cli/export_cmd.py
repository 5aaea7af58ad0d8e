"""`pixcodec export`: a checkpoint made fit to ship (no optimizer state), with its SHA-256."""
from __future__ import annotations

import hashlib
from pathlib import Path

import click

from pixcodec import checkpoint
from pixcodec.images.imageio import refuse_existing


@click.command("export")
@click.argument("ckpt", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("-f", "--force", is_flag=True, help="Overwrite OUT.")
def command(ckpt, out, force):
    """Copy CKPT to OUT without training state; print OUT's SHA-256 (bundled models pin it)."""
    refuse_existing(out, force)
    state = checkpoint.export(ckpt, out, force)
    digest = hashlib.sha256(Path(out).read_bytes()).hexdigest()
    click.echo(f"{out}: {state['model']} {state['hparams']}, step {state.get('step')}, sha256 {digest}")
