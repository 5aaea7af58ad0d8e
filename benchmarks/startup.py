"""The command line's fixed start-up cost: `--help`, an argument error, and a whole compress of a
small image beside the in-process time the compress itself reports.

    python benchmarks/startup.py --repeats 5 --out benchmarks/results/startup.json [--before /tmp/old]

``--before`` names a checkout of an earlier commit: its `cli` package is run from there
(``python -c``), so the two are timed alike, alternating.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

RUNNER = ("import sys; sys.path.insert(0, {root!r}); from cli.main import {entry}; "
          "sys.argv[0] = 'pixcodec'; {call}")


def command(root: str | None, args: list[str]) -> list[str]:
    if root is None:
        return [sys.executable, "-m", "pixcodec.cli", *args]
    # an old checkout: its cli/ and pixcodec/ first on the path
    code = RUNNER.format(root=root, entry="app", call="app(sys.argv[1:], prog_name='pixcodec')")
    return [sys.executable, "-c", code, *args]


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    return time.perf_counter() - start, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", default=None, help="checkout of the commit to compare with")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "small.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(image)
        cases = {"--help": ["--help"], "compress --help": ["compress", "--help"],
                 "argument error": ["compress", str(image), "--effort", "9"],
                 "compress 32x32": ["compress", str(image), "-o", str(Path(tmp) / "s.pxc"), "--force"]}
        checkouts = {"now": None} | ({"before": args.before} if args.before else {})
        times: dict = {(c, k): [] for c in checkouts for k in cases}
        inside: dict = {c: [] for c in checkouts}
        for _ in range(args.repeats):
            for name, root in checkouts.items():
                for case, case_args in cases.items():
                    seconds, output = timed(command(root, case_args))
                    times[name, case].append(seconds)
                    found = re.search(r"bytes, ([0-9.]+) s", output)
                    if case == "compress 32x32" and found:
                        inside[name].append(float(found.group(1)))
    rows = [{"checkout": c, "case": k, "median_s": round(statistics.median(v), 3), "seconds": [round(x, 3) for x in v]}
            for (c, k), v in times.items()]
    for name in checkouts:
        if inside[name]:
            rows.append({"checkout": name, "case": "compress 32x32, in-process (its own report)",
                         "median_s": statistics.median(inside[name]), "seconds": inside[name]})
    Path(args.out).write_text(json.dumps({"repeats": args.repeats, "rows": rows}, indent=1) + "\n")
    for r in rows:
        print(f"{r['checkout']:7} {r['case']:45} {r['median_s']:.3f} s")


if __name__ == "__main__":
    main()
