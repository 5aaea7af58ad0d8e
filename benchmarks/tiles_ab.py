"""Tile side against rate and time with the context-mixing stage: each photo coded with effort 2's
options in tiles of each side, and decoded with the network ahead of the stage and in turn,
alternating (medians).

    python benchmarks/tiles_ab.py ../shared/data/photos/train/waterloo-{sail,mountain,slope}.png \
        --tiles 64,128,256 --repeats 2 --out benchmarks/results/tiles_ab.json

Ahead is forced off by replacing ``engine.run_parts`` (as ahead_ab.py does); it is forced on only
where the codec asks for it, so "ahead" rows are what ``decompress`` does.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from pixcodec import bundled
from pixcodec.exact import engine
from pixcodec.codec import Codec
from pixcodec.levers import EFFORTS
from pixcodec.images.imageio import read_image

sys.path.insert(0, str(Path(__file__).parent))
from ahead_ab import forcing  # noqa: E402


def measure(path: Path, tiles: list[int], repeats: int) -> list[dict]:
    """One row per tile side for the photo at ``path``."""
    pixels, mode, _ = read_image(path)
    model, rows = bundled.load(bundled.for_mode(mode).name), []
    for tile in tiles:
        codec = Codec(model, tile=tile, levers=EFFORTS[2].levers)
        start = time.perf_counter()
        data = codec.compress(pixels, mode).data
        encode_s = time.perf_counter() - start
        decode_s: dict = {"codec's choice": [], "in turn": []}
        for _ in range(repeats):
            for name, ahead in (("codec's choice", True), ("in turn", False)):
                engine.run_parts = forcing(ahead)
                start = time.perf_counter()
                decoded, _ = codec.decompress(data)
                decode_s[name].append(time.perf_counter() - start)
                engine.run_parts = forcing.original
                if not torch.equal(decoded, pixels):
                    raise SystemExit(f"{path.name}, tile {tile}: the decoded image differs")
        rows.append({"image": path.name, "mode": mode, "tile": tile,
                     "bits_per_subpixel": round(8 * len(data) / pixels.numel(), 4), "encode_s": round(encode_s, 2),
                     **{f"decode_s, {name}": round(statistics.median(t), 2) for name, t in decode_s.items()}})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="+", type=Path)
    parser.add_argument("--tiles", default="64,128,256")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [row for path in args.photos for row in measure(path, [int(t) for t in args.tiles.split(",")], args.repeats)]
    args.out.write_text(json.dumps({"command": " ".join(["python", "benchmarks/tiles_ab.py", *sys.argv[1:]]),
                                    "threads": args.threads, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
