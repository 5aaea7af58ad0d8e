"""PNG and WebP lossless on the MNIST and Fashion-MNIST test sets, one file per image.

    python benchmarks/classic_codecs_mnist.py --data-dir ../shared/data

Pillow with pinned settings (PNG optimize; WebP lossless, method 6, quality 100);
bits per subpixel from real file sizes, every file decoded and checked. The
reference for the models' bits/dim on the same images.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import click
import numpy as np
from PIL import Image

from pixcodec.training.data import open_dataset

CODECS = {"png": dict(format="PNG", optimize=True), "webp": dict(format="WEBP", lossless=True, method=6, quality=100)}


@click.command()
@click.option("--data-dir", default="../shared/data", show_default=True)
@click.option("--limit", type=int, default=None, help="First N test images only.")
@click.option("--out", default="benchmarks/results/classic_codecs_mnist.json", show_default=True)
def main(data_dir, limit, out):
    report = {}
    for name in ("fashion-mnist", "mnist"):
        ds = open_dataset(name, data_dir, "test")
        n = min(len(ds), limit or len(ds))
        bits = dict.fromkeys(CODECS, 0)
        for i in range(n):
            pixels = ds[i][0][0].numpy()
            for codec, options in CODECS.items():
                buf = io.BytesIO()
                Image.fromarray(pixels, "L").save(buf, **options)
                assert np.array_equal(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L")), pixels)
                bits[codec] += 8 * len(buf.getvalue())
        report[name] = {"images": n, **{f"{c}_bits_per_subpixel": b / (n * pixels.size) for c, b in bits.items()}}
        click.echo(f"{name}: {report[name]}", err=True)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
