"""Ablation of the image-adaptive levers: bits/subpixel, encode and decode seconds per image.

Each configuration codes every image with the bundled model for its mode, decodes it, and
checks the pixels; the JSON keeps every row, and the summary the mean bits/subpixel (the
mean of per-image rates, as the issue's Set14 figures are) and the pooled rate.

    python benchmarks/adaptation.py IMAGES... --configs plain,online,tuned,effort3,effort4 \
        --out benchmarks/results/adaptation_heldout.json --threads 2
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

CONFIGS = {
    "plain": dict(tuning=False, online=False, deltas=False),        # effort 1
    "online": dict(tuning=False, online=True, deltas=False),        # effort 2 before context mixing
    "tuned": dict(tuning=True, online=False, deltas=False),         # the default before online mixing
    "deltas": dict(tuning=False, online=False, deltas=True),        # channel deltas alone
    "effort3_nodeltas": dict(search=EFFORTS[3].levers.search, deltas=False),   # the default before channel deltas
    "effort3_online": dict(search=EFFORTS[3].levers.search),            # the default before context mixing
    "effort2_tile64": dict(levers=EFFORTS[2].levers),                                   # before the efforts' larger tiles
    "effort3_tile64": dict(levers=EFFORTS[3].levers),
    "effort4_tile64": dict(levers=EFFORTS[4].levers),
    "effort2": dict(levers=EFFORTS[2].levers, tile=EFFORTS[2].tile),              # the network and context mixing
    "effort3": dict(levers=EFFORTS[3].levers, tile=EFFORTS[3].tile),              # the default
    "effort4": dict(levers=EFFORTS[4].levers, tile=EFFORTS[4].tile),
}


def image_arguments(description: str) -> argparse.ArgumentParser:
    """The arguments every per-image ablation takes: images, --out and --threads."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    return parser


def round_trip(codec: Codec, pixels: torch.Tensor, mode: str) -> dict:
    """Compress and decompress one image: its size, bits a subpixel, both times, and whether
    the decode gave its pixels back."""
    start = time.perf_counter()
    compressed = codec.compress(pixels, mode)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded, _ = codec.decompress(compressed.data)
    decode_s = time.perf_counter() - start
    return {"bytes": len(compressed.data), "bits_per_subpixel": compressed.bits_per_subpixel,
            "encode_s": round(encode_s, 2), "decode_s": round(decode_s, 2), "exact": bool(torch.equal(decoded, pixels))}


def main() -> None:
    parser = image_arguments(__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for config in args.configs.split(","):
        for path in args.images:
            pixels, mode, _ = read_image(path)
            codec = Codec(bundled.load(bundled.for_mode(mode).name), **CONFIGS[config])
            rows.append({"config": config, "image": path.name, "mode": mode, "subpixels": pixels.numel(),
                         **round_trip(codec, pixels, mode)})
            print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for config in dict.fromkeys(r["config"] for r in rows):
        mine = [r for r in rows if r["config"] == config]
        summary[config] = {"images": len(mine),
                           "mean_bits_per_subpixel": round(statistics.mean(r["bits_per_subpixel"] for r in mine), 4),
                           "pooled_bits_per_subpixel": round(8 * sum(r["bytes"] for r in mine) / sum(r["subpixels"] for r in mine), 4),
                           "encode_s": round(sum(r["encode_s"] for r in mine), 1),
                           "decode_s": round(sum(r["decode_s"] for r in mine), 1),
                           "all_exact": all(r["exact"] for r in mine)}
    args.out.write_text(json.dumps({"threads": args.threads, "summary": summary, "rows": rows}, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
