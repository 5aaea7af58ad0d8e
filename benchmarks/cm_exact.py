"""The exact context-mixing stage (pixcodec/cm) on real bytes: coded, decoded, compared (issue 30).

For each image, the bundled model's distributions per 64x64 tile (the harness's
``network_weights``: float softmax as 16-bit weights, computed once from the true image, which
is what the decoder's network would give it step by step) drive ``pixcodec.cm.Stage`` (of
``--revision``) in the codec's lockstep order over tiles of ``--stage-tile``: each position of a
tile in raster order, each channel, every tile at once. The decoder repeats the walk on the bytes and must give back every sample. Reported per
image: the network alone (ideal code length of its weights), the stage's real bytes, and the
stage's own time to encode and decode (the network's time not included; medians of
``--repeats``).

    python benchmarks/cm_exact.py ../shared/data/photos/train/waterloo-mandrill.png \
        --out benchmarks/results/cm_exact_heldout.json
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from cm_potential import network_weights  # noqa: E402

from pixcodec.cm.stage import Stage, lockstep_order  # noqa: E402

TILE = 64


def wavefront_order(shape, skew: int = 2):
    """The engine's wavefront over the whole image, as steps of (ys, xs, cs): a diagonal
    x + skew·y = t at a time, each channel in turn."""
    height, width, channels = shape
    for t in range(width + skew * (height - 1)):
        first, last = max(0, -(-(t - width + 1) // skew)), min(height - 1, t // skew)
        ys = np.arange(first, last + 1)
        for c in range(channels):
            yield ys, t - skew * ys, np.full(len(ys), c)


ORDERS = {"lockstep": lockstep_order,
          "wavefront": lambda shape, tile: wavefront_order(shape)}


def run(stage: Stage, weights: np.ndarray, image: np.ndarray | None = None, order: str = "lockstep") -> float:
    """Encode ``image`` through the stage, or decode when it is None, in ``ORDERS[order]``; the
    seconds it took."""
    start = time.perf_counter()
    for ys, xs, cs in ORDERS[order](stage.image.shape, stage.tile):
        if image is None:
            stage.decode(ys, xs, cs, weights[ys, xs, cs])
        else:
            stage.encode(ys, xs, cs, weights[ys, xs, cs], image[ys, xs, cs])
    return time.perf_counter() - start


def measure(path: Path, repeats: int, revision: int = 3, tile: int = 128, order: str = "lockstep") -> dict:
    image, weights, channels = network_weights(path, TILE)
    total = weights.astype(np.float64).sum(-1)
    chosen = np.take_along_axis(weights, image[..., None].astype(np.int64), -1)[..., 0]
    network = float(-np.log2(chosen / total).sum()) / image.size
    encode_s, decode_s = [], []
    for _ in range(repeats):                          # alternating, medians reported
        encoder = Stage(image.shape, tile, revision).start()
        encode_s.append(run(encoder, weights, image, order))
        data = encoder.finish()
        decoder = Stage(image.shape, tile, revision).start(data)
        decode_s.append(run(decoder, weights, order=order))
    encode_s, decode_s = float(np.median(encode_s)), float(np.median(decode_s))
    row = {"image": path.name, "subpixels": int(image.size), "network_alone": round(network, 4),
           "stage_bytes": len(data), "stage": round(8 * len(data) / image.size, 4),
           "exact_round_trip": bool(np.array_equal(decoder.image, image)),
           "stage_encode_s": round(encode_s, 2), "stage_decode_s": round(decode_s, 2)}
    print(json.dumps(row), flush=True)
    return row


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--repeats", type=int, default=1, help="time each image this many times (medians)")
    parser.add_argument("--revision", type=int, default=3, help="the stage's rules (1: .pxc v11, 2: v12, 3: v13)")
    parser.add_argument("--stage-tile", type=int, default=128, help="the tiles its contexts read and its order walks")
    parser.add_argument("--order", choices=ORDERS, default="lockstep",
                        help="lockstep: a call per tile position (every tile at once); wavefront: a call per "
                             "diagonal of the whole image, batches as large as the codec's")
    parser.add_argument("--out")
    args = parser.parse_args()
    Stage((1, 1, 1), TILE, args.revision).start().encode(*[np.zeros(1, np.int64)] * 3, np.ones((1, 256), np.int64), [0])  # compile
    rows = [measure(p, args.repeats, args.revision, args.stage_tile, args.order) for p in args.images]
    summary = {k: round(float(np.mean([r[k] for r in rows])), 4)
               for k in ("network_alone", "stage", "stage_encode_s", "stage_decode_s")}
    summary["all_exact"] = all(r["exact_round_trip"] for r in rows)
    print(json.dumps(summary))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"command": "python benchmarks/cm_exact.py " + " ".join(str(p) for p in args.images)
                       + f" --repeats {args.repeats} --revision {args.revision} --stage-tile {args.stage_tile}"
                       + f" --order {args.order}",
                       "machine": "2 CPU cores, one thread, nothing else running", "mean": summary, "rows": rows},
                      f, indent=1)
