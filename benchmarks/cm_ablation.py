"""What each part of the context-mixing stage is worth, on real bytes (issue 30's ablation).

For each image the bundled model's distributions per 64x64 tile (``cm_potential.network_weights``,
the float softmax as 16-bit weights, computed once) drive ``pixcodec.cm.Stage`` in the codec's
lockstep order over tiles of ``--stage-tile`` (the default's 128), under variants of its rules:
- the network alone (the ideal code length of its weights, no stage);
- revisions 1, 2 and 3 (format versions 11, 12 and 13; 3 is the default's);
- context mixing alone: revision 3 under flat weights, so the network says nothing;
- revision 3 without each of its additions to revision 2 (``model.LEVEL_MIXER`` ...);
- revision 3 without each input family in turn (its hashed contexts and prediction maps,
  grouped as ``FAMILIES`` says).
Every variant's bytes are decoded and compared, once per image (the default's), and the sizes
are real stream bytes.

    python benchmarks/cm_ablation.py ../shared/data/photos/train/waterloo-{mandrill,mountain}.png \
        --out benchmarks/results/cm_ablation_heldout.json
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from cm_exact import TILE  # noqa: E402
from cm_potential import network_weights  # noqa: E402

from pixcodec.cm.model import FALLING_RATES, LEVEL_APM, LEVEL_MIXER, REVISIONS, Revision  # noqa: E402
from pixcodec.cm.stage import Stage, lockstep_order  # noqa: E402
from pixcodec.levers import DEFAULT_EFFORT, EFFORTS  # noqa: E402

DEFAULT = EFFORTS[DEFAULT_EFFORT].levers.cm        # the revision compress writes
ADDITIONS = {"the third mixer (by levels)": LEVEL_MIXER, "rates that fall with use": FALLING_RATES,
             "the third APM (by levels)": LEVEL_APM}
# the default revision's inputs by family: hashed contexts (by number) and prediction maps (by number)
FAMILIES = {
    "order 0 of the tile": ((0,), ()),
    "hashed neighbours (W and N, W and WW, N and NN)": ((3, 6, 7), ()),
    "hashed earlier channels and their steps": ((11, 12, 14, 16, 20, 21, 22, 23), ()),
    "prediction maps: gradients in the channel": ((), tuple(range(0, 8))),
    "prediction maps: the previous channel's steps": ((), tuple(range(8, 18))),
    "prediction maps: colour differences": ((), tuple(range(18, 30))),
}


def without(contexts: tuple = (), predictions: tuple = (), extras: int = 0) -> Revision:
    base = REVISIONS[DEFAULT]
    return Revision(tuple(c for c in base.contexts if c not in contexts),
                    tuple(p for p in base.predictions if p not in predictions), base.extras & ~extras)


def bits(image: np.ndarray, weights: np.ndarray, revision, tile: int, check: bool = False) -> float:
    def run(stage, image=None):
        for ys, xs, cs in lockstep_order(stage.image.shape, tile):
            if image is None:
                stage.decode(ys, xs, cs, weights[ys, xs, cs])
            else:
                stage.encode(ys, xs, cs, weights[ys, xs, cs], image[ys, xs, cs])
    encoder = Stage(image.shape, tile, revision).start()
    run(encoder, image)
    data = encoder.finish()
    if check:
        decoder = Stage(image.shape, tile, revision).start(data)
        run(decoder)
        assert np.array_equal(decoder.image, image), "the stage did not decode what it coded"
    return 8 * len(data) / image.size


def measure(path: Path, tile: int) -> dict:
    image, weights, _ = network_weights(path, TILE)
    chosen = np.take_along_axis(weights, image[..., None].astype(np.int64), -1)[..., 0]
    row = {"image": path.name, "network alone": float(-np.log2(chosen / weights.astype(np.float64).sum(-1)).sum()) / image.size}
    for revision in sorted(REVISIONS):
        row[f"revision {revision} (v{10 + revision})"] = bits(image, weights, revision, tile, check=revision == DEFAULT)
    row["context mixing alone (flat weights)"] = bits(image, np.ones_like(weights), DEFAULT, tile)
    for addition, bit in ADDITIONS.items():
        row["without " + addition] = bits(image, weights, without(extras=bit), tile)
    for family, (contexts, predictions) in FAMILIES.items():
        row["without " + family] = bits(image, weights, without(contexts, predictions), tile)
    row = {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
    print(json.dumps(row), flush=True)
    return row


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--stage-tile", type=int, default=128)
    parser.add_argument("--out")
    args = parser.parse_args()
    rows = [measure(p, args.stage_tile) for p in args.images]
    mean = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0] if k != "image"}
    print(json.dumps(mean))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"command": "python benchmarks/cm_ablation.py " + " ".join(str(p) for p in args.images)
                       + f" --stage-tile {args.stage_tile}", "stage_tile": args.stage_tile, "network_tile": TILE,
                       "machine": "2 CPU cores, one thread", "mean": mean, "rows": rows}, f, indent=1)
