"""pixcodec against PNG, WebP and JPEG-XL on the same images: real files, real times, checked pixels.

Rates are bits per subpixel from file sizes (headers included), pooled over all
images (total bits / total subpixels) so large images weigh what they cost.
Every file is decoded and compared with the original; a mismatch is reported,
never hidden. Times are medians over ``repeats`` runs with fixed thread counts.
"""
from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .classic import available
from .errors import PixcodecError
from .images.imageio import read_image


def median_time(fn: Callable, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def run(images: list[Path], codec_for: Callable[[str], object], threads: int = 2, repeats: int = 1,
        echo: Callable[[str], None] = lambda s: None, settings: str = "bundled default model per mode (or -m)") -> dict:
    """codec_for(mode) -> the pixcodec Codec for an image of that mode; settings: what it is, for the report."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(images, codec_for, threads, repeats, echo, settings)
    finally:            # a library call must not leave the process on another thread count
        torch.set_num_threads(before)


def _run(images, codec_for, threads, repeats, echo, settings) -> dict:
    classic = available()
    rows = []
    for path in images:
        tensor, mode, original = read_image(path)
        if original is not None:       # the classic codecs here would see only its 8-bit part
            raise PixcodecError(f"{path}: the bench compares 8-bit gray and RGB images, not a {original.summary}")
        pixels = tensor.permute(1, 2, 0).numpy() if tensor.shape[0] == 3 else tensor[0].numpy()
        codec = codec_for(mode)
        enc_s, compressed = median_time(lambda: codec.compress(tensor, mode), repeats)
        dec_s, (decoded, _) = median_time(lambda: codec.decompress(compressed.data), repeats)
        results = [("pixcodec", len(compressed.data), enc_s, dec_s, bool(torch.equal(decoded, tensor)))]
        for c in classic:
            enc_s, data = median_time(lambda: c.encode(pixels, threads), repeats)
            dec_s, back = median_time(lambda: c.decode(data, threads), repeats)
            results.append((c.name, len(data), enc_s, dec_s, same_pixels(np.asarray(back), pixels)))
        for name, size, enc_s, dec_s, exact in results:
            rows.append({"image": str(path), "mode": mode, "width": tensor.shape[2], "height": tensor.shape[1],
                         "subpixels": tensor.numel(), "codec": name, "bytes": size,
                         "bits_per_subpixel": 8 * size / tensor.numel(), "encode_s": enc_s, "decode_s": dec_s,
                         "exact": exact})
        echo(f"{path.name}: " + ", ".join(f"{r['codec']} {r['bits_per_subpixel']:.3f}" for r in rows[-len(results):]))
    return {"rows": rows, "totals": totals(rows), "threads": threads, "repeats": repeats,
            "codecs": {"pixcodec": settings,
                       **{c.name: c.settings for c in classic}},
            "machine": {"platform": platform.platform(), "processor": platform.processor(),
                        "torch": torch.__version__, "torch_threads": threads}}


def same_pixels(decoded: np.ndarray, pixels: np.ndarray) -> bool:
    """Exact equality; a gray original may come back as R = G = B (WebP has no gray mode)."""
    if decoded.ndim == 3 and pixels.ndim == 2:
        return all(np.array_equal(decoded[..., k], pixels) for k in range(decoded.shape[2]))
    return decoded.shape == pixels.shape and bool(np.array_equal(decoded, pixels))


def totals(rows: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in rows:
        t = out.setdefault(r["codec"], {"images": 0, "bytes": 0, "subpixels": 0, "encode_s": 0.0,
                                        "decode_s": 0.0, "exact": True})
        t["images"] += 1
        for k in ("bytes", "subpixels", "encode_s", "decode_s"):
            t[k] += r[k]
        t["exact"] &= r["exact"]
    for t in out.values():
        t["bits_per_subpixel"] = 8 * t["bytes"] / t["subpixels"]
    return out


def markdown(report: dict) -> str:
    codecs = list(report["totals"])
    lines = ["| image | " + " | ".join(codecs) + " |", "|---" * (len(codecs) + 1) + "|"]
    by_image: dict[str, dict] = {}
    for r in report["rows"]:
        by_image.setdefault(r["image"], {})[r["codec"]] = r
    for image, cells in by_image.items():
        lines.append(f"| {Path(image).name} | " + " | ".join(
            f"{cells[c]['bits_per_subpixel']:.3f}" + ("" if cells[c]["exact"] else " (NOT EXACT)") for c in codecs) + " |")
    lines.append("| **all (pooled)** | " + " | ".join(f"**{report['totals'][c]['bits_per_subpixel']:.3f}**"
                                                      for c in codecs) + " |")
    lines += ["", "| codec | bits/subpixel | encode s | decode s | exact | settings |", "|---|---|---|---|---|---|"]
    for c in codecs:
        t = report["totals"][c]
        lines.append(f"| {c} | {t['bits_per_subpixel']:.3f} | {t['encode_s']:.2f} | {t['decode_s']:.2f} | "
                     f"{'yes' if t['exact'] else 'NO'} | {report['codecs'].get(c, '')} |")
    lines.append(f"\nBits per subpixel from real file sizes; times in seconds summed over images "
                 f"(median of {report['repeats']} runs each), {report['threads']} threads.")
    return "\n".join(lines) + "\n"


def write(report: dict, out_dir: Path) -> list[Path]:
    from .images.atomic import atomic_write
    from .chart import bar_chart

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"bench.json": json.dumps(report, indent=1).encode(), "bench.md": markdown(report).encode(),
             "bench.png": bar_chart({c: t["bits_per_subpixel"] for c, t in report["totals"].items()},
                                    "bits per subpixel (lower is better)")}
    for name, data in files.items():
        with atomic_write(out_dir / name) as f:
            f.write(data)
    return [out_dir / name for name in files]
