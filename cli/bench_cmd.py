"""`pixcodec bench`: pixcodec against PNG, WebP lossless and JPEG-XL on the same images."""
from __future__ import annotations

from pathlib import Path

import click

from pixcodec.defaults import IMAGE_SUFFIXES

from .codec_cmds import model_option
from .common import effort_option


@click.command("bench")
@click.argument("images", nargs=-1, required=True)
@model_option
@click.option("--out", default="bench-results", show_default=True, type=click.Path(file_okay=False),
              help="Folder for bench.json, bench.md and bench.png.")
@click.option("-t", "--threads", type=click.IntRange(1), default=2, show_default=True,
              help="Threads for pixcodec (torch) and JPEG-XL; Pillow's PNG and WebP use one.")
@click.option("--repeats", type=click.IntRange(1), default=1, show_default=True, help="Timed runs per image (median).")
@click.option("-f", "--force", is_flag=True, help="Overwrite an earlier report in --out.")
@effort_option("pixcodec's compress --effort.")
def command(images, model_path, out, threads, repeats, force, effort):
    """Compress IMAGES (files or folders) with every codec; report rates, times and exactness."""
    from pixcodec import bench
    from pixcodec.api import Codecs
    from pixcodec.classic import available
    from pixcodec.images.imageio import expand_inputs, refuse_existing

    for name in ("bench.json", "bench.md", "bench.png"):
        refuse_existing(Path(out) / name, force)
    codecs = Codecs(model_path, effort=effort)
    sources = [path for path, _ in expand_inputs(list(images), IMAGE_SUFFIXES)]
    report = bench.run(sources, codecs.for_mode, threads, repeats, echo=lambda s: click.echo(s, err=True),
                       settings=f"{model_path or 'bundled default model per mode'}, effort {effort}")
    written = bench.write(report, Path(out))
    click.echo(bench.markdown(report))
    click.echo("wrote " + ", ".join(str(p) for p in written))
    if "jpegxl" not in {c.name for c in available()}:
        click.echo("note: JPEG-XL left out: install it with pip install -e '.[bench]'", err=True)
