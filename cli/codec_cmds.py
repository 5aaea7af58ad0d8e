"""`pixcodec compress`, `decompress` and `info`: the codec from the command line, with the habits
of gzip, zstd and cjxl: ``-`` for standard input and output, ``-f``, ``-q``, ``-v``, ``-j``.

Exit status: 0 done; 1 bad input or options (2 for a usage error, as click gives); 3 a file
that fails its integrity check (or ``--verify``); 130 interrupted.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from pixcodec.defaults import DEFAULT_GROUP, IMAGE_SUFFIXES, MAX_DECODE_PIXELS

from .common import effort_option, jobs_option, threads_for, threads_option, verbosity_options
from .coding import STDIO, Item, Settings

model_option = click.option("-m", "--model", "model_path", type=click.Path(dir_okay=False),
                            help="Model checkpoint (from `pixcodec train`) [default: the bundled model].")
out_options = [
    click.option("-o", "--out", help="Output file (one input only); - for standard output."),
    click.option("--out-dir", type=click.Path(file_okay=False), help="Write outputs here, keeping subfolders."),
    click.option("-f", "--force", is_flag=True, help="Overwrite existing outputs."),
    click.option("--resume", is_flag=True,
                 help="Skip outputs that already exist and check out (a .pxc decodes to its image; an image has "
                      "the .pxc's pixels): rerun an interrupted folder."),
]


def with_common_options(f):
    for option in reversed([*out_options, jobs_option, threads_option, *verbosity_options]):
        f = option(f)
    return f


def plan(inputs, out, out_dir, suffix: str, wanted: set[str]) -> list[Item]:
    """(source, target) for every input; ``-`` reads standard input and, unless -o says
    otherwise, writes standard output, as gzip does."""
    from pixcodec.errors import PixcodecError
    from pixcodec.images.imageio import expand_inputs

    if out and out_dir:
        raise click.UsageError("give -o or --out-dir, not both")
    if STDIO in inputs and len(inputs) > 1:
        raise click.UsageError("- (standard input) must be the only input")
    if STDIO in inputs:
        if out_dir:
            raise click.UsageError("standard input has no name to put in --out-dir: use -o")
        return [Item(STDIO, out or STDIO, 0)]
    try:
        sources = expand_inputs(list(inputs), wanted)
    except PixcodecError as e:
        raise click.UsageError(str(e)) from None
    if out and len(sources) != 1:
        raise click.UsageError("-o names one output; use --out-dir for several inputs")
    items = []
    for source, relative in sources:
        if out:
            target = out
        elif out_dir:
            target = str(Path(out_dir) / relative.with_suffix(suffix))
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        else:
            target = str(source.with_suffix(suffix))
        items.append(Item(str(source), target, source.stat().st_size if source.is_file() else 0))
    return items


def refuse_terminal(items: list[Item]) -> None:
    if any(i.target == STDIO for i in items) and sys.stdout.buffer.isatty():
        raise click.UsageError("refusing to write binary data to a terminal: redirect it or give -o FILE")


def run(settings: Settings, items: list[Item], jobs: int, quiet: bool, verbose: bool) -> None:
    from . import batch

    if any(i.target == STDIO for i in items) and batch.launched_by_torchrun():
        raise click.UsageError("under torchrun, outputs go to files: give --out-dir")
    to_stdout = any(i.target == STDIO for i in items)
    status = (lambda line: click.echo(line, err=True)) if to_stdout else click.echo   # noqa: E731
    if verbose:
        click.echo(f"{settings.command}: {len(items)} file(s), {jobs} process(es) x {settings.threads} thread(s)"
                   f"{f', effort {settings.effort}' if settings.command == 'compress' else ''}", err=True)
    code = batch.run(settings, items, jobs, quiet, status)
    if code:
        sys.exit(code)


@click.command("compress")
@click.argument("inputs", nargs=-1, required=True)
@model_option
@with_common_options
@click.option("--verify", is_flag=True, help="Decode each written file and check it equals the image.")
@click.option("--tile", type=click.IntRange(1, 65535), default=None,
              help="Tile side; tiles of one shape are coded in lockstep. [default: 128 at efforts 2 to 4, "
                   "where context mixing learns across the larger tiles; 64 at effort 1]")
@click.option("--group", type=click.IntRange(1, 65535), default=DEFAULT_GROUP, show_default=True,
              help="Tiles coded together at most (bounds memory).")
@effort_option()
def compress(inputs, model_path, out, out_dir, force, resume, jobs, threads, quiet, verbose, verify, tile, group,
             effort):
    """Compress images (files, folders, or - for standard input) losslessly to .pxc files.

    The ICC profile, EXIF and XMP (and a PNG's text and colour chunks) are kept in the file."""
    items = plan(inputs, out, out_dir, ".pxc", IMAGE_SUFFIXES)
    refuse_terminal(items)
    settings = Settings("compress", model_path, tile=tile, group=group, effort=effort, force=force, verify=verify,
                        resume=resume, threads=threads_for(jobs, threads, len(items)))
    run(settings, items, jobs, quiet, verbose)


@click.command("decompress")
@click.argument("inputs", nargs=-1, required=True)
@model_option
@with_common_options
@click.option("--max-pixels", type=click.IntRange(0), default=MAX_DECODE_PIXELS, show_default=True,
              help="Refuse images larger than this many pixels (0: no limit); a tiny file can claim a vast image.")
@click.option("--format", "suffix", type=click.Choice(["png", "ppm", "pgm", "pbm", "tif", "bmp", "webp"]),
              default="png", show_default=True,
              help="Format of standard output and of outputs named after their input (-o NAME's suffix chooses for "
                   "itself), as djxl's png:- does.")
def decompress(inputs, model_path, out, out_dir, force, resume, jobs, threads, quiet, verbose, max_pixels, suffix):
    """Decode .pxc files (or - for standard input) to images with exactly the original pixels, in the
    format the output's name asks for: .png, .ppm/.pgm/.pbm, .tif, .bmp or .webp (lossless)."""
    from pixcodec.errors import PixcodecError
    from pixcodec.images.formats import check_suffix

    items = plan(inputs, out, out_dir, f".{suffix}", {".pxc"})
    for item in items:
        if item.target != STDIO:
            try:
                check_suffix(Path(item.target).suffix)
            except PixcodecError as e:
                raise click.UsageError(str(e)) from None
    refuse_terminal(items)
    settings = Settings("decompress", model_path, max_pixels=max_pixels or None, force=force, resume=resume,
                        threads=threads_for(jobs, threads, len(items)), stdout_suffix=f".{suffix}")
    run(settings, items, jobs, quiet, verbose)


@click.command("info")
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line.")
def info(file, as_json):
    """Show a .pxc file's header (- reads standard input)."""
    from pixcodec.images.atomic import read_file        # no torch: info reads the header only
    from pixcodec.pxc import parse

    data = sys.stdin.buffer.read() if file == STDIO else read_file(Path(file))
    header, streams, stored = parse(data)
    fields = {"file": file, "format_version": header.version, "model_id": header.model_id.hex(), "width": header.width,
              "height": header.height, "mode": header.mode, "tile": header.tile, "group": header.group,
              "streams": len(streams), **header.describe(),
              "header_bytes": header.size,
              "payload_bytes": sum(header.stream_lengths) + len(stored),
              "total_bytes": len(data), "pixel_crc32": f"{header.pixel_crc:08x}",
              "bits_per_subpixel": 8 * len(data) / (header.width * header.height * header.channels)}
    if as_json:
        click.echo(json.dumps(fields))
    else:
        for k, v in fields.items():
            click.echo(f"{k:20} {v:.4f}" if isinstance(v, float) else f"{k:20} {v}")
