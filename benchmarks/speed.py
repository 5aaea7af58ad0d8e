"""How long pixcodec takes, every figure of the speed issue in one JSON: a photo at the default
effort and at effort 1, in process and through the command line, a 32x32 image whole process,
peak memory, the demo, and JPEG-XL e9 and paq8px on the same photo in the same run.

    python benchmarks/speed.py --photo ../shared/data/photos/train/waterloo-sail.png \
        --repeats 3 --out benchmarks/results/speed.json [--demo] [--paq8px ../shared/tools/paq8px-bpsp]

Run it on a quiet machine: times are medians of ``--repeats`` runs, the cases taking turns.
Command-line runs are whole processes (start-up, imports and exit included), with their peak
resident memory where GNU time is installed. Every decode is checked against the photo.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pixcodec import bundled, classic
from pixcodec.codec import Codec
from pixcodec.levers import DEFAULT_EFFORT
from pixcodec.images.imageio import read_image


def whole_process(args: list[str], root: str | None = None) -> tuple[float, int | None, str]:
    """(seconds, peak resident MB, output) of ``pixcodec ARGS`` as a fresh process; root: a
    checkout to run instead of the installed package. The peak is GNU time's: a child forked
    from this large process would count this process's pages as its own peak (Linux carries the
    high-water mark through fork and exec); None without it."""
    timer = shutil.which("time", path="/usr/bin:/bin")
    with tempfile.NamedTemporaryFile("r") as peak:
        launch = [timer, "-f", "%M", "-o", peak.name] if timer else []
        start = time.perf_counter()
        done = subprocess.run([*launch, sys.executable, "-m", "pixcodec.cli", *args], capture_output=True, text=True,
                              cwd=root, env=None if root is None else dict(os.environ, PYTHONPATH=root))
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"pixcodec {' '.join(args)} failed: {done.stdout}{done.stderr}")
        kb = peak.read().strip().splitlines()
    return seconds, int(kb[-1]) // 1024 if timer and kb else None, done.stdout + done.stderr


def in_process(codec: Codec, pixels: torch.Tensor, mode: str, repeats: int) -> dict:
    """Encode and decode medians, the cases taking turns; bits a subpixel."""
    encode, decode = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        data = codec.compress(pixels, mode).data
        encode.append(time.perf_counter() - start)
        start = time.perf_counter()
        decoded, _ = codec.decompress(data)
        decode.append(time.perf_counter() - start)
        if not torch.equal(decoded, pixels):
            raise SystemExit("a decode differs from the photo")
    return {"encode_s": statistics.median(encode), "decode_s": statistics.median(decode),
            "encode_runs": encode, "decode_runs": decode, "bits_per_subpixel": 8 * len(data) / pixels.numel()}


def through_cli(image: Path, folder: Path, repeats: int, effort: int) -> dict:
    """Whole-process compress and decompress medians and their peak memory."""
    packed, back = folder / f"{image.stem}.pxc", folder / f"{image.stem}.back.png"
    runs: dict = {"compress_s": [], "decompress_s": [], "compress_mb": [], "decompress_mb": []}
    for _ in range(repeats):
        for verb, args in (("compress", [str(image), "-o", str(packed), "--effort", str(effort)]),
                           ("decompress", [str(packed), "-o", str(back)])):
            seconds, mb, _ = whole_process([verb, *args, "--force", "-q"])
            runs[f"{verb}_s"].append(seconds)
            runs[f"{verb}_mb"].append(mb)
        if not np.array_equal(np.asarray(Image.open(back)), np.asarray(Image.open(image))):
            raise SystemExit(f"{back} differs from {image}")
    return {"compress_s": statistics.median(runs["compress_s"]), "decompress_s": statistics.median(runs["decompress_s"]),
            "compress_peak_mb": _peak(runs["compress_mb"]), "decompress_peak_mb": _peak(runs["decompress_mb"]),
            "runs": runs}


def _peak(megabytes: list) -> int | None:
    return None if None in megabytes else max(megabytes)


def classical(pixels: np.ndarray, repeats: int, threads: int) -> dict:
    out = {}
    for codec in classic.available():
        if codec.name != "jpegxl":
            continue
        encode, decode = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            data = codec.encode(pixels, threads)
            encode.append(time.perf_counter() - start)
            start = time.perf_counter()
            codec.decode(data, threads)
            decode.append(time.perf_counter() - start)
        out[codec.name] = {"settings": codec.settings, "encode_s": statistics.median(encode),
                           "decode_s": statistics.median(decode), "bits_per_subpixel": 8 * len(data) / pixels.size}
    return out


def paq8px(tool: str, image: Path) -> dict:
    """paq8px -8 through its bpsp script with --verify: one run (about 2 minutes each way)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, tool, "--verify", str(image)], capture_output=True, text=True, check=True)
    return {"both_ways_s": time.perf_counter() - start, "output": done.stdout.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--demo", action="store_true", help="also time `pixcodec demo` (once)")
    parser.add_argument("--paq8px", default=None, help="path of paq8px-bpsp: also time paq8px (once)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["PIXCODEC_THREADS"] = str(args.threads)          # the command-line runs too
    pixels, mode, _ = read_image(args.photo)
    model = bundled.load(bundled.for_mode(mode).name)
    report: dict = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
                    "torch": torch.__version__, "photo": args.photo.name, "size": list(pixels.shape),
                    "repeats": args.repeats, "default_effort": DEFAULT_EFFORT}
    for effort in (DEFAULT_EFFORT, 1):
        report[f"effort{effort}_in_process"] = in_process(Codec.at_effort(model, effort), pixels, mode, args.repeats)
        print(effort, report[f"effort{effort}_in_process"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        report["photo_cli"] = through_cli(args.photo, folder, args.repeats, DEFAULT_EFFORT)
        small = folder / "small32.png"
        Image.fromarray(np.asarray(Image.open(args.photo).convert("RGB"))[:32, :32]).save(small)
        report["small32_cli"] = through_cli(small, folder, args.repeats, DEFAULT_EFFORT)
        print(report["photo_cli"], report["small32_cli"], flush=True)
        if args.demo:
            seconds, mb, output = whole_process(["demo"])
            report["demo_cli"] = {"wall_s": seconds, "peak_mb": mb, "output": output[-2000:]}
    report["classical"] = classical(pixels.permute(1, 2, 0).contiguous().numpy().squeeze(), args.repeats, args.threads)
    if args.paq8px:
        report["paq8px"] = paq8px(args.paq8px, args.photo)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if not isinstance(v, dict)}, indent=1))


if __name__ == "__main__":
    main()
