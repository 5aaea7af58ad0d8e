"""What shorter per-image fits cost in bits and save in encode time, at the default effort.

Each budget codes every image with the bundled model for its mode (the default effort's codec,
with the channel fit's steps and head tuning's Adam steps and learning rate replaced), decodes
it and checks the pixels. Budgets take turns image by image, so their times share the machine's
state; the first on each image also pays that image's first-run costs.

    python benchmarks/encoder_budget.py IMAGES... --out benchmarks/results/encoder_budget_heldout.json
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import torch

from pixcodec import bundled
from pixcodec.encoder import channel_tuning, tune
from pixcodec.codec import Codec
from pixcodec.levers import DEFAULT_EFFORT
from pixcodec.images.imageio import read_image

sys.path.insert(0, str(Path(__file__).parent))
from adaptation import image_arguments, round_trip  # noqa: E402

DEFAULT = {"fit": (channel_tuning.STEPS, channel_tuning.EPOCHS), "tune": (tune.STEPS, tune.LR)}
BUDGETS = {
    "default": DEFAULT,
    "fit_half": {"fit": (channel_tuning.STEPS // 2, channel_tuning.EPOCHS), "tune": DEFAULT["tune"]},
    "fit_half_tune_half": {"fit": (channel_tuning.STEPS // 2, channel_tuning.EPOCHS),
                           "tune": (tune.STEPS // 2, 2 * tune.LR)},
}


def main() -> None:
    parser = image_arguments(__doc__.splitlines()[0])
    parser.add_argument("--budgets", default=",".join(BUDGETS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names, rows = args.budgets.split(","), []
    for path in args.images:
        pixels, mode, _ = read_image(path)
        for name in names:
            budget = BUDGETS[name]
            tune.STEPS, tune.LR = budget["tune"]
            codec = Codec.at_effort(bundled.load(bundled.for_mode(mode).name), DEFAULT_EFFORT, fit=budget["fit"])
            row = round_trip(codec, pixels, mode)
            if not row["exact"]:
                raise SystemExit(f"{path}: the decode differs ({name})")
            rows.append({"budget": name, "image": path.name, "bits_per_subpixel": row["bits_per_subpixel"],
                         "encode_s": row["encode_s"], "decode_s": row["decode_s"]})
            print(rows[-1], flush=True)
    tune.STEPS, tune.LR = DEFAULT["tune"]
    summary = {}
    for name in names:
        mine = [r for r in rows if r["budget"] == name]
        summary[name] = {**BUDGETS[name], "mean_bits_per_subpixel": round(statistics.mean(r["bits_per_subpixel"] for r in mine), 5),
                         "encode_s": round(sum(r["encode_s"] for r in mine), 1),
                         "decode_s": round(sum(r["decode_s"] for r in mine), 1)}
    args.out.write_text(json.dumps({"command": "encoder_budget.py " + " ".join(str(p) for p in args.images),
                                    "effort": DEFAULT_EFFORT, "threads": args.threads, "summary": summary,
                                    "rows": rows}, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
