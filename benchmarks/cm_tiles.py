"""What the context-mixing stage loses to tiles: the stage (revision 2) alone, on real bytes,
with its contexts limited to tiles of several sides and its symbols in several orders.

The network's weights are the bundled model's per 64×64 tile (``cm_exact.py``), fixed, so only
the stage changes: its contexts read only their own tile (``--tiles``), and it learns the
subpixels in the codec's lockstep order over those tiles, in raster order over the whole image
(one tile per row of symbols: what no batched network allows), or in the engine's wavefront
order over the whole image (skew 2). Mean bits/subpixel per variant.

    python benchmarks/cm_tiles.py ../shared/data/photos/train/waterloo-{mandrill,mountain,peppers2,peppers3,sail,tulips,washsat}.png \
        --out benchmarks/results/cm_tiles_heldout.json
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from cm_exact import TILE, wavefront_order  # noqa: E402
from cm_potential import network_weights  # noqa: E402

from pixcodec.cm.stage import Stage, lockstep_order  # noqa: E402

WHOLE = 1 << 16


def variants(tiles: list[int]) -> dict:
    """name -> (the contexts' tile, the order of the symbols)."""
    found = {f"tiles {t}, lockstep": (t, lambda shape, t=t: lockstep_order(shape, t)) for t in tiles}
    found[f"tiles {TILE}, raster over the image"] = (TILE, lambda shape: lockstep_order(shape, WHOLE))
    found["no tiles, raster"] = (WHOLE, lambda shape: lockstep_order(shape, WHOLE))
    found["no tiles, wavefront (skew 2)"] = (WHOLE, wavefront_order)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--tiles", default="64,128,256")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    chosen = variants([int(t) for t in args.tiles.split(",")])
    rows = []
    for path in args.images:
        image, weights, _ = network_weights(path, TILE)
        row = {"image": path.name}
        for name, (tile, order) in chosen.items():
            stage = Stage(image.shape, tile, 2).start()
            for ys, xs, cs in order(image.shape):
                stage.encode(ys, xs, cs, weights[ys, xs, cs], image[ys, xs, cs])
            row[name] = round(8 * len(stage.finish()) / image.size, 4)
        rows.append(row)
        print(json.dumps(row), flush=True)
    means = {name: round(float(np.mean([r[name] for r in rows])), 4) for name in chosen}
    args.out.write_text(json.dumps({"network_tile": TILE, "mean": means, "images": rows}, indent=1) + "\n")
    print(json.dumps(means))


if __name__ == "__main__":
    main()
