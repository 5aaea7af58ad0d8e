"""Decode time with and without online mixing, as alternating runs on one photo (medians).

    python benchmarks/online_decode_ab.py --photo ../shared/data/photos/test/set14_5-monarch.png \
        --repeats 3 --threads 2 --out benchmarks/results/online_decode_ab.json

Both files are coded with the bundled model for the photo's mode and no head tuning (effort 1
against effort 2), so the pair differs only in the online mixing stage.
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from cm_decode_ab import alternating_decodes, photo_args  # noqa: E402

from pixcodec import bundled  # noqa: E402
from pixcodec.codec import Codec  # noqa: E402
from pixcodec.images.imageio import read_image  # noqa: E402


def main() -> None:
    args = photo_args(__doc__.splitlines()[0])
    torch.set_num_threads(args.threads)
    pixels, mode, _ = read_image(args.photo)
    model = bundled.load(bundled.for_mode(mode).name)
    codecs = {online: Codec(model, tuning=False, online=online) for online in (False, True)}
    files = {online: codec.compress(pixels, mode).data for online, codec in codecs.items()}
    times = alternating_decodes(codecs, files, pixels, args.repeats)
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
