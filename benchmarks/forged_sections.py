"""The fuzz round of issue 29, against the bundled model, through the command line: LZMA bombs
in the `original` section, forged metadata records, a removed `original`, and random header
rewrites with the CRC made good again over a file holding every kind of side section.

The cases are made in a child process, so that this one stays small (a child's peak memory as
Linux reports it includes its parent's at the fork). Each named case runs `pixcodec info` and
`pixcodec decompress` in a fresh process, measured with wait4 (its own peak memory and CPU
seconds); every output written is opened by libpng (through imagecodecs) and by Pillow. The
random rewrites run through the library in one child process.

    python benchmarks/forged_sections.py --out benchmarks/results/forged_sections.json
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def measured(args: list[str]) -> dict:
    """One fresh process: exit code, its own peak memory (MB), CPU seconds, whether it tracebacked."""
    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    return {"exit": os.waitstatus_to_exitcode(status), "peak_mb": round(usage.ru_maxrss / 1024),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "wall_s": round(time.perf_counter() - start, 2),
            "traceback": "Traceback" in stderr, "message": stderr.strip().splitlines()[-1] if stderr.strip() else ""}


def readable(path: Path) -> bool:
    """Whether libpng and Pillow both open and decode a written PNG."""
    import imagecodecs
    from PIL import Image
    try:
        imagecodecs.png_decode(path.read_bytes())
        with Image.open(path) as image:
            image.load()
        return True
    except Exception:
        return False


def named_cases() -> dict[str, bytes]:
    """Files built here, as an attacker would: each header's CRC is good."""
    import numpy as np
    from pixcodec import bundled
    from pixcodec.api import as_pixels
    from pixcodec.pxc import Metadata, parse, restamped
    from test_forged_sections import bomb_file, refile
    codec = bundled.codec("photo-rgb", effort=1)
    cases = {f"lzma bomb {side}x{side} 16-bit RGBA": bomb_file(codec.id, side) for side in (16384, 32768)}
    rng = np.random.default_rng(0)
    image = (rng.integers(0, 256, (24, 20, 4)) * 257).astype(np.uint16)
    pixels, mode, original = as_pixels(image)
    data = codec.compress(pixels, mode, original=original).data
    cases["a lawful 16-bit RGBA file"] = data
    for name, chunks in (("gAMA of 0 bytes, sRGB of 9", ((b"gAMA", b""), (b"sRGB", bytes(9)))),
                         ("pHYs of 1 byte, cHRM of 2", ((b"pHYs", b"\x00"), (b"cHRM", b"\x00\x00")))):
        cases[f"metadata: {name}"] = restamped(data, metadata=Metadata(png_chunks=chunks))
    text_bomb = b"Comment\x00\x00" + zlib.compress(bytes(8_000_000), 9)          # 2 GB of text in 250 records
    cases["metadata: 250 zTXt records inflating to 8 MB each"] = restamped(
        data, metadata=Metadata(png_chunks=((b"zTXt", text_bomb),) * 250))
    cases["original section removed"] = refile(data, original=None)
    header, streams, raw = parse(data)
    header.writer = 9
    cases["relabelled to version 9's rule"] = header.pack() + b"".join(streams) + raw
    return cases


def random_rewrites(trials: int, seed: int) -> list[dict]:
    """Header bytes past the fixed fields rewritten (1 to 3), CRC made good, on two bundled-model
    files: one at effort 3 (value sets, sharpness, online mixing), one with fixed channel deltas
    and a tuned head; both hold original (low bytes and alpha) and metadata."""
    import numpy as np
    from pixcodec import bundled
    from pixcodec.api import as_pixels
    from pixcodec.codec import Codec
    from pixcodec.pxc import ChannelDeltas, Metadata, restamped
    i, j = np.meshgrid(np.arange(20), np.arange(24), indexing="ij")
    image = np.stack([i * 3000 + j * 97, j * 2500 + 5, (i * j * 1234) % 65536, 65535 - i * 300], axis=2).astype(np.uint16)
    pixels, mode, original = as_pixels(image)
    model = bundled.load("photo-rgb")
    n = np.arange(ChannelDeltas.channel_count(model))
    rows = []
    for codec in (bundled.codec("photo-rgb", effort=3), Codec(model, deltas=ChannelDeltas((n * 7) % 11 - 5, (n * 5) % 9 - 4))):
        data = restamped(codec.compress(pixels, mode, original=original).data, metadata=Metadata(
            xmp=b"<x/>", png_chunks=((b"gAMA", b"\x00\x00\xb1\x8f"), (b"tEXt", b"Title\x00t"))))
        rows.append(rewrite_round(codec, data, image, trials, seed))
    return rows


def rewrite_round(codec, data: bytes, image, trials: int, seed: int) -> dict:
    import resource

    import numpy as np
    from pixcodec.api import as_array
    from pixcodec.errors import PixcodecError
    from pixcodec.images.formats import encode
    from pixcodec.images.pngfile import write_png
    from pixcodec.pxc import parse
    header = parse(data)[0]
    size, sections = header.size, [s.key for s in header.side.sections()]
    from conftest import header_lies
    counts, slowest = {"exact": 0, "refused": 0, "other image": 0, "traceback": 0}, 0.0
    for lie in header_lies(data, size, trials, seed, first=38):
        start = time.perf_counter()
        try:
            out, out_mode = codec.decompress(lie)
            kept = parse(lie)[0].side.original
            encode(out.numpy(), out_mode, ".png", lambda: write_png(out, kept), kept, parse(lie)[0].side.metadata)
            counts["exact" if np.array_equal(as_array(out, out_mode, kept), image) else "other image"] += 1
        except PixcodecError:
            counts["refused"] += 1
        except Exception:
            counts["traceback"] += 1
        slowest = max(slowest, time.perf_counter() - start)
    return {"trials": trials, "sections": sections, "file_bytes": len(data), **counts,
            "slowest_s": round(slowest, 2), "process_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--random-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--make-cases", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.random_only:
        print(json.dumps(random_rewrites(args.trials, 29)))
        sys.exit()
    if args.make_cases:
        names = []
        for k, (name, data) in enumerate(named_cases().items()):
            Path(args.make_cases, f"{k}.pxc").write_bytes(data)
            names.append(name)
        print(json.dumps(names))
        sys.exit()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        names = json.loads(subprocess.run([sys.executable, __file__, "--make-cases", str(folder)], capture_output=True,
                                          text=True, check=True).stdout)
        for k, name in enumerate(names):
            source, target = folder / f"{k}.pxc", folder / "out.png"
            data = source.read_bytes()
            target.unlink(missing_ok=True)
            info = measured([sys.executable, "-m", "pixcodec.cli", "info", str(source)])
            decode = measured([sys.executable, "-m", "pixcodec.cli", "decompress", str(source), "-o", str(target)])
            rows.append({"case": name, "file_bytes": len(data), "info": info, "decompress": decode,
                         "output_written": target.exists(), "output_readable": readable(target) if target.exists() else None})
            print(json.dumps(rows[-1]))
    rewrites = json.loads(subprocess.run([sys.executable, __file__, "--random-only", "--trials", str(args.trials)],
                                         capture_output=True, text=True, check=True).stdout)
    print(json.dumps(rewrites))
    steps = [r[k] for r in rows for k in ("info", "decompress")]
    summary = {"cases_over_2gib": sum(s["peak_mb"] > 2048 for s in steps), "cases_over_60s_cpu": sum(s["cpu_s"] > 60 for s in steps),
               "tracebacks": sum(s["traceback"] for s in steps) + sum(r["traceback"] for r in rewrites),
               "rewrites_other_image": sum(r["other image"] for r in rewrites),
               "unreadable_outputs": sum(r["output_readable"] is False for r in rows),
               "info_max_peak_mb": max(r["info"]["peak_mb"] for r in rows), "info_max_wall_s": max(r["info"]["wall_s"] for r in rows)}
    print(json.dumps(summary))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"command": "python benchmarks/forged_sections.py --out " + args.out, "machine": "2 CPU cores, no GPU",
                       "summary": summary, "cases": rows, "random_rewrites": rewrites}, f, indent=1)
