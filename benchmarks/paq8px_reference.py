"""paq8px's bits per subpixel on the images README.md's results table reports: Set14's 11
natural photos and the demo's two samples (paq8px is an anchor to measure against, never a
dependency; its tool is outside the repository).

    python benchmarks/paq8px_reference.py --tool ../shared/tools/paq8px-bpsp \\
        --photos ../shared/data/photos/test --out benchmarks/results/paq8px_reference.json

One paq8px process at a time (about 3 GB each); rates only, so the machine may be busy.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

from readme_results import NATURAL_SET14

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "pixcodec" / "samples"
LINE = re.compile(r"^(?P<image>.+): (?P<rate>[0-9.]+) bits/subpixel \((?P<bytes>\d+) bytes, (?P<coded>\w+)\)")


def rate(tool: Path, image: Path) -> dict:
    done = subprocess.run([sys.executable, str(tool), str(image)], capture_output=True, text=True, check=True)
    found = LINE.match(done.stdout.strip().splitlines()[0])
    return {"image": image.name, "bits_per_subpixel": float(found["rate"]), "bytes": int(found["bytes"]),
            "coded_as": found["coded"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", type=Path, default=Path("../shared/tools/paq8px-bpsp"))
    parser.add_argument("--photos", type=Path, default=Path("../shared/data/photos/test"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    natural = [rate(args.tool, args.photos / f"set14_5-{name}.png") for name in NATURAL_SET14]
    demo = {path.stem: rate(args.tool, path)["bits_per_subpixel"] for path in sorted(SAMPLES.glob("*.png"))}
    args.out.write_text(json.dumps({
        "command": "python benchmarks/paq8px_reference.py " + " ".join(sys.argv[1:]), "settings": "paq8px v216 -8",
        "natural_set14_mean": statistics.mean(r["bits_per_subpixel"] for r in natural), "natural_set14": natural,
        "demo": demo}, indent=1) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
