"""Decode time with and without online mixing, as alternating runs on one photo (medians).

    python benchmarks/online_decode_ab.py --photo ../shared/data/photos/test/set14_5-monarch.png \
        --repeats 3 --threads 2 --out benchmarks/results/online_decode_ab.json

Both files are coded with the bundled model for the photo's mode and no head tuning (effort 1
against effort 2), so the pair differs only in the online mixing stage.
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
from pixcodec.imageio import read_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pixels, mode, _ = read_image(args.photo)
    model = bundled.load(bundled.for_mode(mode).name)
    codecs = {online: Codec(model, tuning=False, online=online) for online in (False, True)}
    files = {online: codec.compress(pixels, mode).data for online, codec in codecs.items()}
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.repeats):
        for online, codec in codecs.items():
            start = time.perf_counter()
            decoded, _ = codec.decompress(files[online])
            times[online].append(time.perf_counter() - start)
            if not torch.equal(decoded, pixels):
                raise SystemExit(f"{args.photo}: decoded pixels differ")
    report = {"photo": args.photo.name, "threads": args.threads, "repeats": args.repeats,
              **{("online" if online else "plain"): {"bytes": len(files[online]),
                                                      "decode_s": [round(t, 3) for t in times[online]],
                                                      "median_s": round(statistics.median(times[online]), 3)}
                 for online in (False, True)}}
    report["ratio"] = round(report["online"]["median_s"] / report["plain"]["median_s"], 3)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
