"""Wall time of `pixcodec compress` over a folder by --jobs, with and without a competing load
of busy-loop processes; and that every run wrote the same bytes.

    python benchmarks/folder_jobs.py ../shared/data/photos/train --count 24 --crop 128 \
        --jobs 1,2 --loads 0,2 --out benchmarks/results/folder_jobs.json

The folder is COUNT centre crops of the first COUNT images (sorted) of the source folder. Each
run is a fresh `python -m pixcodec.cli` process with the default threads (the cores other work
leaves idle when it starts).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image


def busy() -> None:
    while True:
        pass


def make_folder(source: Path, count: int, crop: int, into: Path) -> None:
    for path in sorted(source.glob("*.png"))[:count]:
        with Image.open(path) as img:
            w, h = img.size
            left, top = (w - crop) // 2, (h - crop) // 2
            img.convert("RGB").crop((left, top, left + crop, top + crop)).save(into / path.name)


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*.pxc")):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source")
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--jobs", default="1,2")
    parser.add_argument("--loads", default="0,2")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("PIXCODEC_THREADS", "OMP_NUM_THREADS")}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        make_folder(Path(args.source), args.count, args.crop, images)
        for load in (int(n) for n in args.loads.split(",")):
            hogs = [multiprocessing.Process(target=busy, daemon=True) for _ in range(load)]
            for h in hogs:
                h.start()
            time.sleep(1)
            try:
                for jobs in (int(j) for j in args.jobs.split(",")):
                    out = Path(tmp) / f"out-{load}-{jobs}"
                    start = time.perf_counter()
                    done = subprocess.run([sys.executable, "-m", "pixcodec.cli", "compress", str(images), "--out-dir",
                                           str(out), "-j", str(jobs), "-v"], env=env, capture_output=True, text=True)
                    wall = time.perf_counter() - start
                    if done.returncode:
                        raise SystemExit(done.stderr[-2000:])
                    plan = next(line for line in done.stderr.splitlines() if "process(es)" in line)
                    results.append({"load": load, "jobs": jobs, "wall_s": round(wall, 2), "plan": plan,
                                    "sha256": digest(out),
                                    "total": done.stdout.strip().splitlines()[-1]})
                    print(json.dumps(results[-1]), file=sys.stderr)
            finally:
                for h in hogs:
                    h.terminate()
    report = {"count": args.count, "crop": args.crop, "cores": os.cpu_count(), "results": results,
              "identical_bytes": len({r["sha256"] for r in results}) == 1}
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    for r in results:
        print(f"load {r['load']}  --jobs {r['jobs']}  {r['wall_s']:.1f} s  ({r['plan']})")
    print("identical bytes in every run:", report["identical_bytes"])


if __name__ == "__main__":
    main()
