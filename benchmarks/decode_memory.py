"""Peak resident memory of a large image through the command line: compress, then decompress,
each a whole process measured by GNU time, the decode checked against the image.

    python benchmarks/decode_memory.py --side 4096 --effort 2 \
        --out benchmarks/results/decode_memory_4096.json [--before /tmp/old]

The image is the training photos (``--photos``, sorted by name) laid side by side in rows and
cropped at the edges: natural content at a size no single photo has. ``--before`` names a
checkout of an earlier commit whose decoder reads the same file: its decode is measured too, so
the two figures come from one session (the file is compressed once, by this checkout).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from speed import whole_process  # noqa: E402


def mosaic(photos: Path, side: int) -> np.ndarray:
    """(side, side, 3) uint8: the photos in name order, left to right, row after row."""
    canvas = np.zeros((side, side, 3), np.uint8)
    y = x = row_height = 0
    for path in sorted(photos.glob("*.png")):
        if x >= side:
            y, x, row_height = y + row_height, 0, 0
        if y >= side:
            break
        photo = np.asarray(Image.open(path).convert("RGB"))
        h, w = min(photo.shape[0], side - y), min(photo.shape[1], side - x)
        canvas[y:y + h, x:x + w] = photo[:h, :w]
        x, row_height = x + w, max(row_height, h)
    if y < side and (y + row_height < side or x < side):       # the photos ran out first
        raise SystemExit(f"{photos} has too few photos to fill {side}x{side}")
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", type=int, default=4096)
    parser.add_argument("--effort", type=int, default=2)
    parser.add_argument("--photos", default="../shared/data/photos/train")
    parser.add_argument("--before", default=None, help="checkout of the commit to compare with")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    pixels = mosaic(Path(args.photos), args.side)
    report: dict = {"what": f"peak resident memory of compress and decompress of a {args.side}x{args.side} RGB "
                            "image, whole process (GNU time %M)",
                    "image": f"{args.photos} sorted by name, side by side in rows, cropped at the edges",
                    "command": " ".join([sys.argv[0].split("/")[-1], *sys.argv[1:]]),
                    "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                    "date": time.strftime("%Y-%m-%d"), "effort": args.effort}
    with tempfile.TemporaryDirectory() as tmp:
        png, pxc, back = Path(tmp) / "big.png", Path(tmp) / "big.pxc", Path(tmp) / "back.png"
        Image.fromarray(pixels).save(png)
        seconds, mb, _ = whole_process(["compress", str(png), "-o", str(pxc), "--effort", str(args.effort), "-q"])
        report |= {"bytes": pxc.stat().st_size, "bits_per_subpixel": round(8 * pxc.stat().st_size / pixels.size, 4),
                   "compress_s": round(seconds, 1), "compress_peak_mb": mb}
        print(report, flush=True)
        def decode(root: str | None) -> dict:
            seconds, mb, _ = whole_process(["decompress", str(pxc), "-o", str(back), "--force", "-q"], root)
            return {"decompress_s": round(seconds, 1), "decompress_peak_mb": mb,
                    "exact": bool(np.array_equal(np.asarray(Image.open(back).convert("RGB")), pixels))}
        report |= decode(None)
        if args.before:
            commit = subprocess.run(["git", "-C", args.before, "rev-parse", "--short", "HEAD"], capture_output=True,
                                    text=True).stdout.strip()
            report["before"] = {"checkout": args.before, "commit": commit, **decode(args.before)}
    report["target_decompress_peak_mb"] = 2048
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
