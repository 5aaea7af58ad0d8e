"""Find test images that appear, whole or cropped, in a training folder: exact pixel copies only.

    python benchmarks/train_test_overlap.py ../shared/data/photos/train ../shared/data/photos/test \
        --out benchmarks/results/train_test_overlap.json

Every 12-pixel run of gray values on every 7th row of the training images is hashed (flat runs
are skipped: they match everywhere). Disjoint runs on every row of a test image are looked up; a
training image whose matches agree on one offset, at least 10 times, holds a copy of the test
image at that offset. Rescaled or re-encoded copies are not found (see the README's note).
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click
import numpy as np
from PIL import Image

RUN, TRAIN_ROWS, TEST_ROWS, MIN_STD, MIN_VOTES = 12, 7, 1, 6.0, 10
SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".webp"}


def gray(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("L")).astype(np.int64)


def runs(row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keys, starting columns) of the row's textured RUN-pixel windows."""
    if len(row) < RUN:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(row, RUN)
    textured = np.flatnonzero(windows.std(1) > MIN_STD)
    keys = (windows[textured] * (257 ** np.arange(RUN))).sum(1)
    return keys, textured


def index(folder: Path) -> dict[int, list[tuple[str, int, int]]]:
    table: dict[int, list[tuple[str, int, int]]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES):
        image = gray(path)
        for r in range(0, image.shape[0], TRAIN_ROWS):
            for key, c in zip(*runs(image[r])):
                table.setdefault(int(key), []).append((path.name, r, int(c)))
    return table


def overlaps(table, path: Path) -> list[dict]:
    image, votes = gray(path), Counter()
    for r in range(0, image.shape[0], TEST_ROWS):
        keys, cols = runs(image[r])
        for key, c in zip(keys[::RUN], cols[::RUN]):             # disjoint windows
            for name, tr, tc in table.get(int(key), ()):
                votes[(name, tr - r, tc - int(c))] += 1
    return [{"train": name, "top": dy, "left": dx, "votes": n}
            for (name, dy, dx), n in votes.most_common() if n >= MIN_VOTES]


@click.command(help=__doc__.split("\n")[0])
@click.argument("train", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("test", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("benchmarks/results/train_test_overlap.json"), show_default=True)
def main(train: Path, test: Path, out: Path) -> None:
    table = index(train)
    found = {}
    for path in sorted(p for p in test.rglob("*") if p.suffix.lower() in SUFFIXES):
        found[path.name] = hits = overlaps(table, path)
        click.echo(f"{path.name}: " + (", ".join(f"{h['train']} at ({h['top']}, {h['left']})" for h in hits) or "none"))
    out.write_text(json.dumps({"train": str(train), "test": str(test), "copies": found}, indent=2))


if __name__ == "__main__":
    main()
