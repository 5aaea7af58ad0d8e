"""`pixcodec compress`, `decompress` and `info`: the codec from the command line."""
from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

import click

from pixcodec.api import Codecs
from pixcodec.codec import DEFAULT_EFFORT, DEFAULT_GROUP, DEFAULT_TILE, EFFORTS, MAX_DECODE_PIXELS, Codec, check_budget
from pixcodec.data import IMAGE_SUFFIXES
from pixcodec.errors import PixcodecError
from pixcodec.imageio import expand_inputs, png_bytes, read_image, refuse_existing, write_new
from pixcodec.likelihood import two_part_split
from pixcodec.pngfile import write_png
from pixcodec.pxc import parse

model_option = click.option("-m", "--model", "model_path", type=click.Path(dir_okay=False),
                            help="Model checkpoint (from `pixcodec train`) [default: the bundled model].")
out_options = [
    click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output file (one input only)."),
    click.option("--out-dir", type=click.Path(file_okay=False), help="Write outputs here, keeping subfolders."),
    click.option("--force", is_flag=True, help="Overwrite existing outputs."),
]


def with_out_options(f):
    for option in reversed(out_options):
        f = option(f)
    return f


def output_path(source: Path, relative: Path, out, out_dir, suffix: str) -> Path:
    if out:
        return Path(out)
    if out_dir:
        target = Path(out_dir) / relative.with_suffix(suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target
    return source.with_suffix(suffix)


def check_outputs(inputs, out, out_dir):
    if out and out_dir:
        raise click.UsageError("give -o or --out-dir, not both")
    if out and len(inputs) != 1:
        raise click.UsageError("-o names one output; use --out-dir for several inputs")


def each(items, work):
    """Run ``work`` on every item; report failures one line each and fail at the end."""
    failures = 0
    for item in items:
        try:
            work(*item)
        except PixcodecError as e:
            click.echo(f"Error: {e}", err=True)
            failures += 1
    if failures:
        raise SystemExit(1)


@contextlib.contextmanager
def row_progress(codec: Codec, height: int, width: int, label: str):
    """A click progress bar over engine rows, for images big enough to take a while."""
    rows = codec.rows(height, width)
    if height * width < 128 * 128:
        yield None
        return
    with click.progressbar(length=rows, label=label, file=sys.stderr) as bar:
        yield lambda _row: bar.update(1)


@click.command("compress")
@click.argument("inputs", nargs=-1, required=True)
@model_option
@with_out_options
@click.option("--verify", is_flag=True, help="Decode each written file and check it equals the image.")
@click.option("--tile", type=click.IntRange(1, 65535), default=DEFAULT_TILE, show_default=True,
              help="Tile side; tiles of one shape are coded in lockstep.")
@click.option("--group", type=click.IntRange(1, 65535), default=DEFAULT_GROUP, show_default=True,
              help="Tiles coded together at most (bounds memory).")
@click.option("-e", "--effort", type=click.IntRange(min(EFFORTS), max(EFFORTS)), default=DEFAULT_EFFORT, show_default=True,
              help="1: the model as trained; 2: + online mixing; 3: + every layer's channels and the head "
                   "refitted to the image; 4: + a longer fit, and each lever left out in turn, keeping the smallest "
                   "(slowest). Decoding needs no option.")
def compress(inputs, model_path, out, out_dir, force, verify, tile, group, effort):
    """Compress images (files or folders) losslessly to .pxc files."""
    check_outputs(inputs, out, out_dir)
    codecs = Codecs(model_path, tile, group, effort)
    sources = expand_inputs(list(inputs), IMAGE_SUFFIXES)
    check_outputs(sources, out, out_dir)
    totals = {"bytes": 0, "nll": 0.0, "subpixels": 0, "seconds": 0.0, "latent": None}

    def one(source: Path, relative: Path):
        image, mode, original = read_image(source)
        codec = codecs.for_mode(mode)
        target = output_path(source, relative, out, out_dir, ".pxc")
        refuse_existing(target, force)
        start = time.perf_counter()
        with row_progress(codec, image.shape[1], image.shape[2], f"compressing {source.name}") as on_row:
            result = codec.compress(image, mode, on_row, original=original)
        seconds = time.perf_counter() - start
        write_new(target, result.data, force)
        if verify and not bool((codec.decompress(target.read_bytes(), max_pixels=None)[0] == image).all()):
            raise PixcodecError(f"{target}: verification failed: the decoded image differs")
        n = image.numel()
        click.echo(f"{source} -> {target}: {result.bits_per_subpixel:.4f} bits/subpixel "
                   f"(model {result.nll_bits / n:.4f}{two_part_split(result.nll_bits, result.latent_bits, n)}, "
                   f"overhead {8 * len(result.data) - result.nll_bits:+.0f} bits), "
                   f"{len(result.data)} bytes, {seconds:.2f} s{', verified' if verify else ''}"
                   + (f", {result.stored_tiles} tile(s) stored raw" if result.stored_tiles else ""))
        for k, v in (("bytes", len(result.data)), ("nll", result.nll_bits), ("subpixels", n), ("seconds", seconds)):
            totals[k] += v
        if result.latent_bits is not None:
            totals["latent"] = (totals["latent"] or 0.0) + result.latent_bits

    each(sources, one)
    if len(sources) > 1:
        n = totals["subpixels"]
        click.echo(f"total: {8 * totals['bytes'] / n:.4f} bits/subpixel "
                   f"(model {totals['nll'] / n:.4f}{two_part_split(totals['nll'], totals['latent'], n)}), "
                   f"{totals['bytes']} bytes, {totals['seconds']:.2f} s")



@click.command("decompress")
@click.argument("inputs", nargs=-1, required=True)
@model_option
@with_out_options
@click.option("--max-pixels", type=click.IntRange(0), default=MAX_DECODE_PIXELS, show_default=True,
              help="Refuse images larger than this many pixels (0: no limit); a tiny file can claim a vast image.")
def decompress(inputs, model_path, out, out_dir, force, max_pixels):
    """Decode .pxc files to PNG images with exactly the original pixels."""
    check_outputs(inputs, out, out_dir)
    sources = expand_inputs(list(inputs), {".pxc"})
    check_outputs(sources, out, out_dir)
    codecs = Codecs(model_path)

    def one(source: Path, relative: Path):
        data = read_bytes(source)
        target = output_path(source, relative, out, out_dir, ".png")
        refuse_existing(target, force)
        start = time.perf_counter()
        header = parse(data)[0]
        check_budget(header, max_pixels or None)
        codec = codecs.for_file(header)
        with row_progress(codec, header.height, header.width, f"decompressing {source.name}") as on_row:
            image, mode = codec.decompress(data, on_row, max_pixels or None)
        original = header.side.original
        write_new(target, png_bytes(image, mode) if original is None else write_png(image, original), force)
        click.echo(f"{source} -> {target}: {image.shape[2]}x{image.shape[1]} {mode}, "
                   f"{time.perf_counter() - start:.2f} s")

    each(sources, one)


@click.command("info")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line.")
def info(file, as_json):
    """Show a .pxc file's header."""
    data = read_bytes(Path(file))
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


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PixcodecError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise PixcodecError(f"{path} is a directory") from None
