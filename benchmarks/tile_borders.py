"""What context across tile borders could save at most: images coded whole (one tile, no borders).

Each tile starts blind at its top and left edges (FORMAT.md, "Tiles and streams"). A layout
that gave every tile its neighbours' decoded pixels (issue 22, item 3) could at best code as
if there were no borders at all, which is what one tile as large as the image does. This codes
each image at effort 1 without per-tile sharpness (no fitted or per-tile levers, so only the
tiling differs) with 64-pixel tiles and with one tile, and reports the real file sizes.

    python benchmarks/tile_borders.py IMAGES... --out benchmarks/results/tile_borders_heldout.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from pixcodec import bundled
from pixcodec.codec import Codec
from pixcodec.levers import EFFORTS
from pixcodec.images.imageio import read_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for path in args.images:
        pixels, mode, _ = read_image(path)
        model = bundled.load(bundled.for_mode(mode).name)
        row = {"image": path.name, "mode": mode, "subpixels": pixels.numel()}
        for name, tile in (("tiles_64", 64), ("whole", max(pixels.shape[1:]))):
            start = time.perf_counter()
            compressed = Codec(model, tile=tile, levers=EFFORTS[1].levers, sharpness=False).compress(pixels, mode)
            row[name] = {"bits_per_subpixel": compressed.bits_per_subpixel, "encode_s": round(time.perf_counter() - start, 1)}
        row["saving"] = 1 - row["whole"]["bits_per_subpixel"] / row["tiles_64"]["bits_per_subpixel"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {name: round(statistics.mean(r[name]["bits_per_subpixel"] for r in rows), 4) for name in ("tiles_64", "whole")}
    summary["mean_saving"] = round(statistics.mean(r["saving"] for r in rows), 4)
    args.out.write_text(json.dumps({"threads": args.threads, "summary": summary, "rows": rows}, indent=1) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
