"""Decode time without the context-mixing stage and under each of its revisions, as alternating
runs on one photo in one process (medians).

    python benchmarks/cm_decode_ab.py --photo ../shared/data/photos/train/waterloo-sail.png \
        --repeats 3 --threads 2 --out benchmarks/results/cm_decode_ab.json

Every file is coded with the bundled model for the photo's mode and no fitted sections (effort
2's options and tiles, with the stage's revision set), so the files differ only in the stage.
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

VARIANTS = {"no stage (v1)": dict(online=False, cm=0), "revision 1 (v11)": dict(cm=1), "revision 2 (v12)": dict(cm=2),
            "revision 3 (v13)": dict(cm=3)}


def photo_args(description: str) -> argparse.Namespace:
    """--photo, --repeats, --threads and --out, the options every decode A/B takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--photo", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args()


def alternating_decodes(codecs: dict, files: dict, pixels: torch.Tensor, repeats: int) -> dict[str, list[float]]:
    """Each file decoded ``repeats`` times by its codec, the files taking turns; the seconds
    each decode took. Every decode must give back ``pixels``."""
    times: dict = {name: [] for name in codecs}
    for _ in range(repeats):
        for name, codec in codecs.items():
            start = time.perf_counter()
            decoded, _ = codec.decompress(files[name])
            times[name].append(time.perf_counter() - start)
            if not torch.equal(decoded, pixels):
                raise SystemExit(f"{name}: the decoded image differs")
    return times


def main() -> None:
    args = photo_args(__doc__.splitlines()[0])
    torch.set_num_threads(args.threads)
    pixels, mode, _ = read_image(args.photo)
    model = bundled.load(bundled.for_mode(mode).name)
    codecs = {name: Codec(model, tile=EFFORTS[2].tile, levers=EFFORTS[2].levers, **options) for name, options in VARIANTS.items()}
    files = {name: codec.compress(pixels, mode).data for name, codec in codecs.items()}
    times = alternating_decodes(codecs, files, pixels, args.repeats)
    report = {"command": f"python benchmarks/cm_decode_ab.py --photo {args.photo} --repeats {args.repeats} "
                         f"--threads {args.threads} --out {args.out}",
              "machine": f"2 CPU cores, {args.threads} torch threads, nothing else running",
              "rows": [{"variant": name, "bits_per_subpixel": round(8 * len(files[name]) / pixels.numel(), 4),
                        "decode_s": [round(t, 2) for t in times[name]],
                        "decode_s_median": round(statistics.median(times[name]), 2)} for name in codecs]}
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report["rows"]))


if __name__ == "__main__":
    main()
