"""README.md's results table, generated from the benchmarks' JSON files so that every figure in
it is today's and names its source.

    python benchmarks/readme_results.py            # print the table
    python benchmarks/readme_results.py --write    # replace the table in README.md
    python benchmarks/readme_results.py --check    # exit 1 where README.md's table is not this one

A source measured again (a new `pixcodec bench` folder, `speed.py` output) becomes current by
naming it in SOURCES; what it replaces goes to benchmarks/results/README.md.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SOURCES = {
    "photos": "bench_photos_speed2_2026-12-06/bench.json",     # pixcodec bench ../shared/data/photos/test
    "cifar60": "bench_cifar60_rev3/bench.json",                # pixcodec bench on 60 CIFAR-10 test images
    "speed": "speed.json",                                     # benchmarks/speed.py on sail, with the demo
    "paq8px": "paq8px_reference.json",                         # benchmarks/paq8px_reference.py (sail's: speed.json)
}
# Set14's photographs that no pipeline reduced to a palette or drew (the rest: baboon, bridge,
# face, head, man, ppt3 are palette-quantized, posterized or synthetic)
NATURAL_SET14 = ("baby", "bird", "butterfly", "coastguard", "comic", "flowers", "foreman", "monarch", "pepper",
                 "woman", "zebra")
CODECS = ("pixcodec", "jpegxl", "webp", "png", "paq8px")
HEADER = "| | pixcodec | JPEG-XL e9 | WebP | PNG | paq8px |"
BEGIN, END = "<!-- results: benchmarks/readme_results.py writes this table -->", "<!-- end of results -->"


def load(key: str) -> dict:
    return json.loads((RESULTS / SOURCES[key]).read_text())


def natural_mean(rows: list[dict], codec: str) -> float | None:
    found = [r["bits_per_subpixel"] for r in rows if r["codec"] == codec
             and Path(r["image"]).stem.removeprefix("set14_5-") in NATURAL_SET14]
    return statistics.mean(found) if len(found) == len(NATURAL_SET14) else None


def demo_rates(output: str) -> dict[str, dict[str, float]]:
    """The demo's table (its printed markdown, kept in speed.json): sample -> codec -> rate."""
    rates = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0].startswith("flower-crop-"):
            numbers = [float(c.split()[0]) for c in cells[1:]]
            rates[cells[0].split()[0]] = dict(zip(("pixcodec", "png", "webp", "jpegxl"), numbers[0::3]))
    return rates


def paq8px_sail(output: str) -> dict:
    """paq8px's line in speed.json (paq8px-bpsp --verify's output)."""
    found = re.search(r"([0-9.]+) bits/subpixel .*encode ([0-9.]+) s, decode ([0-9.]+) s", output)
    return {"bits_per_subpixel": float(found[1]), "encode_s": float(found[2]), "decode_s": float(found[3])}


def row(label: str, values: dict, fmt: str = ".3f", unit: str = "") -> str:
    """One line of the table, the smallest figure in bold."""
    best = min(v for v in values.values() if v is not None)
    cells = ["" if values.get(c) is None else f"**{values[c]:{fmt}}{unit}**" if values[c] == best
             else f"{values[c]:{fmt}}{unit}" for c in CODECS]
    return f"| {label} | " + " | ".join(cells) + " |"


def measured_on(paths: list[Path]) -> str:
    """The last commit date of each source, where this is a git checkout."""
    try:
        dates = {subprocess.run(["git", "log", "-1", "--format=%cs", "--", str(p)], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip() for p in paths}
    except (OSError, subprocess.CalledProcessError):
        return "dates: see the sources' commits"
    dates.discard("")
    return f"measured {min(dates)} to {max(dates)}" if len(dates) > 1 else f"measured {dates.pop()}" if dates \
        else "dates: see the sources' commits"


def table() -> str:
    photos, cifar, speed, paq = load("photos"), load("cifar60"), load("speed"), load("paq8px")
    demo = demo_rates(speed["demo_cli"]["output"])
    sail = {"pixcodec": speed["effort3_in_process"], "jpegxl": speed["classical"]["jpegxl"],
            "paq8px": paq8px_sail(speed["paq8px"]["output"])}
    machine = photos["machine"]
    lines = [
        HEADER, "|---|---|---|---|---|---|",
        row("Set14, its 11 natural photos (mean)", {**{c: natural_mean(photos["rows"], c) for c in CODECS[:4]},
                                                     "paq8px": paq["natural_set14_mean"]}),
        row("photos/test, 19 images (pooled)", {c: photos["totals"][c]["bits_per_subpixel"] for c in CODECS[:4]}),
        row("CIFAR60: 60 CIFAR-10 test images (pooled)", {c: cifar["totals"][c]["bits_per_subpixel"] for c in CODECS[:4]}),
        row("`pixcodec demo`, RGB sample", {**demo["flower-crop-rgb"], "paq8px": paq["demo"]["flower-crop-rgb"]}),
        row("`pixcodec demo`, gray sample", {**demo["flower-crop-gray"], "paq8px": paq["demo"]["flower-crop-gray"]}),
        row("sail, 768×512", {c: v["bits_per_subpixel"] for c, v in sail.items()}),
        row("sail: encode", {c: v["encode_s"] for c, v in sail.items()}, ".3g", " s"),
        row("sail: decode", {c: v["decode_s"] for c, v in sail.items()}, ".3g", " s"),
        "",
        f"Bits per subpixel (lower is better) and seconds; pixcodec at its default, effort 3. At effort 1 sail "
        f"takes {speed['effort1_in_process']['bits_per_subpixel']:.3f} bits per subpixel, "
        f"{speed['effort1_in_process']['encode_s']:.1f} s to encode and {speed['effort1_in_process']['decode_s']:.1f} s "
        f"to decode. Machine: {speed['threads']} CPU threads, no GPU, {machine['platform'].split('-with')[0]}, "
        f"torch {machine['torch'].split('+')[0]}; {measured_on([RESULTS / s for s in SOURCES.values()])}. Sources in "
        "`benchmarks/results/`: " + ", ".join(f"`{s}`" for s in SOURCES.values()) + ".",
    ]
    return "\n".join(lines)


def replaced(readme: str, block: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(readme):
        raise SystemExit(f"README.md has no {BEGIN} ... {END} block")
    return pattern.sub(lambda _: f"{BEGIN}\n{block}\n{END}", readme)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    readme = ROOT / "README.md"
    block = table()
    if args.write:
        readme.write_text(replaced(readme.read_text(), block))
    elif args.check:
        sys.exit(0 if replaced(readme.read_text(), block) == readme.read_text() else 1)
    else:
        print(block)


if __name__ == "__main__":
    main()
