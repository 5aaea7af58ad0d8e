"""`pixcodec demo`: the main job end to end on the bundled sample photos, with nothing to train."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click
import torch

from pixcodec import bundled
from pixcodec.classic import available
from pixcodec.errors import PixcodecError
from pixcodec.imageio import read_image, write_new

SAMPLES = Path(bundled.__file__).parent / "samples"


@click.command("demo")
@click.option("--keep", type=click.Path(file_okay=False), default=None,
              help="Keep the .pxc files and decoded PNGs in this folder [default: a temporary one].")
@click.option("--force", is_flag=True, help="Overwrite files in --keep.")
def command(keep, force):
    """Compress and decompress the bundled sample photos with the bundled models, check every
    pixel, and compare the sizes with PNG and WebP lossless (see samples/PROVENANCE.md)."""
    classic = [c for c in available() if c.name in ("png", "webp")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for sample in sorted(SAMPLES.glob("*.png")):
            image, mode, original = read_image(sample)
            codec = bundled.codec(bundled.for_mode(mode).name)
            start = time.perf_counter()
            compressed = codec.compress(image, mode, original=original)
            encode_s = time.perf_counter() - start
            pxc = folder / sample.with_suffix(".pxc").name
            write_new(pxc, compressed.data, force)
            start = time.perf_counter()
            decoded, _ = codec.decompress(pxc.read_bytes())
            decode_s = time.perf_counter() - start
            if not torch.equal(decoded, image):
                raise PixcodecError(f"{sample.name}: the decoded pixels differ from the original")
            pixels = image.permute(1, 2, 0).numpy() if image.shape[0] == 3 else image[0].numpy()
            others = ", ".join(f"{c.name.upper() if c.name == 'png' else 'WebP'} "
                               f"{8 * len(c.encode(pixels, 1)) / image.numel():.3f}" for c in classic)
            click.echo(f"{sample.name} ({image.shape[2]}x{image.shape[1]} {mode}): pixcodec "
                       f"{compressed.bits_per_subpixel:.3f} bits/subpixel ({others}); "
                       f"encode {encode_s:.2f} s, decode {decode_s:.2f} s; pixels identical")
        click.echo(f"files in {folder}" if keep else "all samples round-tripped exactly")
