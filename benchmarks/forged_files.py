"""Decompression bombs against the bundled model: each a header that passes every check, with
empty streams; one fresh process per file, so each peak memory is that file's alone.

    python benchmarks/forged_files.py --out benchmarks/results/forged_files.json
"""
import argparse
import json
import resource
import subprocess
import sys
import time

BOMBS = [(32768, 32768, 32768, 1), (1 << 20, 1024, 65535, 1), (4096, 4096, 1, 65535),
         (16384, 16384, 64, 65535), (8192, 8192, 64, 256), (16384, 16384, 16384, 1)]


def one(height: int, width: int, tile: int, group: int) -> dict:
    from pixcodec import bundled
    from pixcodec.errors import PixcodecError
    from pixcodec.pxc import Header, stream_count
    codec = bundled.codec("photo-rgb")
    data = Header("RGB", codec.id, height, width, tile, group, 0, [0] * stream_count(height, width, tile, group)).pack()
    base, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    try:
        codec.decompress(data, max_pixels=None)
        outcome = "decoded"
    except PixcodecError as e:
        outcome = str(e)
    return {"height": height, "width": width, "tile": tile, "group": group, "file_bytes": len(data),
            "seconds": round(time.perf_counter() - start, 2), "outcome": outcome,
            "peak_mb_above_start": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    parser.add_argument("--one", nargs=4, type=int)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        sys.exit()
    rows = [json.loads(subprocess.run([sys.executable, __file__, "--one", *map(str, bomb)], capture_output=True,
                                      text=True, check=True).stdout) for bomb in BOMBS]
    for row in rows:
        print(row)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)
