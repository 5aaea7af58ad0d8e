"""The network beside the context-mixing stage: decode and encode time with the next part's
logits computed in a second thread (``engine.run_parts(ahead=True)``) or not, at 1 and 2 torch
threads, as alternating runs on one photo in one process (medians).

    python benchmarks/ahead_ab.py --photo ../shared/data/photos/train/waterloo-sail.png \
        --repeats 3 --out benchmarks/results/ahead_ab.json

Every file is coded with the bundled model for the photo's mode, effort 2's options (the
network and context mixing, no fitted sections); the bytes are the same in every variant.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

from pixcodec import bundled
from pixcodec.exact import engine
from pixcodec.codec import Codec
from pixcodec.images.imageio import read_image

sys.path.insert(0, str(Path(__file__).parent))
from cm_decode_ab import photo_args  # noqa: E402

# (context mixing, ahead, torch threads)
# (ahead gives the network one thread fewer while it runs beside the stage)
VARIANTS = {"no stage, 2 threads": (0, False, 2),
            "stage, in turn, 2 threads": (2, False, 2),
            "stage, ahead, 2 threads": (2, True, 2),
            "stage, in turn, 1 thread": (2, False, 1)}


def forcing(ahead: bool):
    """engine.run_parts with ``ahead`` forced (the codec asks for it wherever the stage runs)."""
    run_parts = forcing.original

    def forced(*args, **kwargs):
        return run_parts(*args, **{**kwargs, "ahead": ahead and kwargs.get("ahead", False)})
    return forced


forcing.original = engine.run_parts


def main() -> None:
    args = photo_args(__doc__.splitlines()[0])
    pixels, mode, _ = read_image(args.photo)
    model = bundled.load(bundled.for_mode(mode).name)
    codecs = {name: Codec(model, tuning=False, deltas=False, **({"cm": cm} if cm else {"online": False}))
              for name, (cm, _, _) in VARIANTS.items()}
    encode_s: dict = {name: [] for name in VARIANTS}
    decode_s: dict = {name: [] for name in VARIANTS}
    files: dict = {}
    for _ in range(args.repeats):
        for name, (_, ahead, threads) in VARIANTS.items():
            torch.set_num_threads(threads)
            engine.run_parts = forcing(ahead)
            start = time.perf_counter()
            data = codecs[name].compress(pixels, mode).data
            encode_s[name].append(time.perf_counter() - start)
            if files.setdefault(name, data) != data:
                raise SystemExit(f"{name}: the bytes changed between runs")
            start = time.perf_counter()
            decoded, _ = codecs[name].decompress(data)
            decode_s[name].append(time.perf_counter() - start)
            if not torch.equal(decoded, pixels):
                raise SystemExit(f"{name}: the decoded image differs")
    engine.run_parts = forcing.original
    if len({files[name] for name in VARIANTS if VARIANTS[name][0]}) != 1:
        raise SystemExit("the stage's variants wrote different bytes")
    report = {"command": f"python benchmarks/ahead_ab.py --photo {args.photo} --repeats {args.repeats} --out {args.out}",
              "machine": "2 CPU cores, nothing else running",
              "rows": [{"variant": name, "bits_per_subpixel": round(8 * len(files[name]) / pixels.numel(), 4),
                        "encode_s": [round(t, 2) for t in encode_s[name]], "decode_s": [round(t, 2) for t in decode_s[name]],
                        "encode_s_median": round(statistics.median(encode_s[name]), 2),
                        "decode_s_median": round(statistics.median(decode_s[name]), 2)} for name in VARIANTS]}
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report["rows"]))


if __name__ == "__main__":
    main()
