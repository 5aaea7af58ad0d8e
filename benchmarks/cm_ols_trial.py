"""Online least-squares predictors as prediction maps beside revision 2 (issue 30, item 3): a
trial that did not pay, kept reproducible.

Runs with ``cm_ols_trial.patch`` applied (``git apply benchmarks/results/cm_ols_trial.patch``):
it adds pixcodec/cm/ols.py and a ``fits`` field to the stage's ``Revision``. Each image is
coded by the stage under revision 2 and under revision 2 plus the fits' prediction maps, from
the bundled model's weights fixed as in cm_exact.py, real bytes; the decoder's time is the
median of ``--repeats``.

    python benchmarks/cm_ols_trial.py ../shared/data/photos/train/waterloo-*.png \
        --out benchmarks/results/cm_ols_trial.json
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from cm_exact import TILE, run  # noqa: E402
from cm_potential import network_weights  # noqa: E402

from pixcodec.cm import model, ols  # noqa: E402
from pixcodec.cm.stage import Stage  # noqa: E402


def variants() -> dict:
    base = model.REVISIONS[2]
    fits = tuple(len(model.REVISIONS[2].predictions) + i for i in range(ols.N_OLS))
    return {"revision 2": base,
            "revision 2 + least squares": model.Revision(base.contexts, base.predictions + fits, ols.N_OLS)}


def measure(path: Path, repeats: int) -> dict:
    image, weights, _ = network_weights(path, TILE)
    row = {"image": path.name}
    for name, revision in variants().items():
        decode_s = []
        for _ in range(repeats):
            encoder = Stage(image.shape, TILE, revision).start()
            run(encoder, weights, image)
            data = encoder.finish()
            decoder = Stage(image.shape, TILE, revision).start(data)
            decode_s.append(run(decoder, weights))
            assert np.array_equal(decoder.image, image)
        row[name] = {"bits_per_subpixel": round(8 * len(data) / image.size, 4),
                     "stage_decode_s": round(float(np.median(decode_s)), 2)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d")
    rows = [measure(p, args.repeats) for p in args.images]
    summary = {name: round(float(np.mean([r[name]["bits_per_subpixel"] for r in rows])), 4) for name in variants()}
    args.out.write_text(json.dumps({"date": started, "tile": TILE, "fits": [list(map(list, h)) for h in ols.NEIGHBOURHOODS],
                                    "forget": ols.FORGET.tolist(), "mean": summary, "images": rows}, indent=1) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
