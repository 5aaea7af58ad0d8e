"""The PixelCNN auto-encoder experiment (section 3.4 of "Conditional Image Generation with PixelCNN
Decoders") at CPU scale: how many bits/dim p(x | h) saves over p(x), what a conventional decoder on
the same bottleneck reconstructs, and which remedy keeps a coded latent alive.

Every run trains for the same minutes on one thread (``--jobs`` runs side by side, one core
each), batch 32, Adam 1e-3; the baselines get ``--baseline-minutes``. Each is then evaluated on the
first ``--eval-images`` test images with ``pixcodec eval``. A run whose JSON is in ``--out`` is
kept, so an interrupted experiment resumes. Last, the reconstruction grids: for each bottleneck,
``pixcodec sample AE --reconstruct`` on the first test images beside the baseline of that size.

    python benchmarks/ae_experiment.py --data-dir ../shared/data --minutes 6 --jobs 2 \\
        --out benchmarks/results/ae_experiment
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

DECODER = dict(hidden=32, layers=6, out_hidden=64)          # the plain model's and every decoder's size
CODES = dict(latent="codes", levels=8, factor=4, latent_channels=1)
DATASETS = {"fashion-mnist": "fashion-mnist", "cifar10": "cifar10-npz:{data_dir}/cifar10-subset/cifar10_subset.npz"}


def plan(datasets: list[str], bottlenecks: list[int]) -> list[dict]:
    """Every run: name, data, model, hyperparameters, extra train options, and whether a baseline."""
    runs = []
    for data in datasets:
        short = data.split("-")[0]
        runs.append(dict(name=f"{short}_plain", data=data, model="gated_pixelcnn", hparams=DECODER))
        for dims in bottlenecks:
            runs.append(dict(name=f"{short}_vector{dims}", data=data, model="pixelcnn_ae",
                             hparams={**DECODER, "latent": "vector", "embed": dims, "vector_norm": "batch"}))
            runs.append(dict(name=f"{short}_conv{dims}", data=data, model="conv_ae", baseline=True,
                             hparams={"embed": dims, "hidden": 64}))
        # the coded latent at the true objective: the rate's warm-up alone, and with free bits
        runs += [dict(name=f"{short}_codes_warmup", data=data, model="pixelcnn_ae",
                      hparams={**DECODER, **CODES}, options=["--latent-warmup", "200"]),
                 dict(name=f"{short}_codes_freebits", data=data, model="pixelcnn_ae",
                      hparams={**DECODER, **CODES}, options=["--latent-warmup", "200", "--free-bits", "1.0"])]
    if "fashion-mnist" in datasets:      # a decoder that sees less, and the plain model of its size
        runs += [dict(name="fashion_codes_shallow", data="fashion-mnist", model="pixelcnn_ae",
                      hparams={**DECODER, **CODES, "layers": 2}, options=["--latent-warmup", "200"]),
                 dict(name="fashion_shallow_plain", data="fashion-mnist", model="gated_pixelcnn",
                      hparams={**DECODER, "layers": 2})]
    return runs


def pixcodec(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pixcodec.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode:
        raise RuntimeError(f"pixcodec {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def train_and_evaluate(run: dict, args, checkpoints: Path, results: Path) -> dict:
    found = results / f"{run['name']}.json"
    if found.exists():
        return json.loads(found.read_text())
    ckpt = checkpoints / f"{run['name']}.pt"
    data = DATASETS[run["data"]].format(data_dir=args.data_dir)
    minutes = args.baseline_minutes if run.get("baseline") else args.minutes
    hparams = [a for k, v in run["hparams"].items() for a in ("-H", f"{k}={v}")]
    start = time.perf_counter()
    pixcodec("train", "--model", run["model"], *hparams, "--data", data, "--data-dir", args.data_dir,
             "--batch-size", "32", "--lr", "1e-3", "--minutes", str(minutes), "--steps", "1000000",
             "--eval-every", "0", "--eval-images", "0", "--save-every", "0", "--threads", "1", "--quiet",
             "--force", *run.get("options", []), "--out", str(ckpt))
    wall = time.perf_counter() - start
    evaluation = json.loads(pixcodec("eval", str(ckpt), "--data-dir", args.data_dir, "--limit",
                                     str(args.eval_images), "--json", "--threads", "1"))
    import torch
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    record = {**run, "minutes": minutes, "steps": state["step"], "train_seconds": round(state["seconds"], 1),
              "wall_seconds": round(wall, 1), "eval": evaluation}
    found.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{run['name']}: {evaluation['bits_per_dim']:.4f} bits/dim after {state['step']} steps", flush=True)
    return record


def latent_checks(run: dict, args) -> dict:
    """On the evaluated test images: a conv_ae's reconstruction error (per subpixel, 0..255
    units), and what a vector latent is worth: bits/dim of p(x | h) given the next image's h."""
    import torch
    from pixcodec import checkpoint
    from pixcodec.training.data import open_dataset
    from pixcodec.training.likelihood import image_bits
    if run["model"] == "gated_pixelcnn" or run["hparams"].get("latent") == "codes":
        return {}
    torch.set_num_threads(1)
    model = checkpoint.load_model(args.checkpoints / f"{run['name']}.pt").eval()
    dataset = open_dataset(DATASETS[run["data"]].format(data_dir=args.data_dir), args.data_dir, "test")
    x = torch.stack([dataset[i][0] for i in range(min(len(dataset), args.eval_images))])
    squared, bits = 0.0, 0.0
    with torch.no_grad():
        for batch in x.split(100):
            if run["model"] == "conv_ae":
                squared += float(((model.reconstruct(batch).double() - batch.double()) ** 2).sum())
            else:
                other = model.encode(batch).roll(1, 0)                  # each image given its neighbour's h
                bits += float(image_bits(model.decoder.pixelcnn, batch, other).sum())
    if run["model"] == "conv_ae":
        mse = squared / x.numel()
        return {"reconstruction_mse": mse, "psnr_db": 10 * np.log10(255 ** 2 / mse)}
    return {"bits_per_dim_given_another_h": bits / x.numel()}


def test_images(data: str, args, folder: Path) -> list[Path]:
    """The first --pictures test images as PNG files, for the reconstruction grids."""
    from pixcodec.training.data import open_dataset
    dataset = open_dataset(DATASETS[data].format(data_dir=args.data_dir), args.data_dir, "test")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(args.pictures):
        image = dataset[i][0].permute(1, 2, 0).numpy()
        paths.append(folder / f"{data}_{i}.png")
        Image.fromarray(image[..., 0] if image.shape[2] == 1 else image).save(paths[-1])
    return paths


def pictures(runs: dict, args, out: Path) -> dict:
    """Reconstruction grids and their squared errors: draws from p(x | h(x)) and the baseline,
    made by what ``pixcodec sample --reconstruct`` runs (cli/sample_cmd.py)."""
    import torch
    from pixcodec import checkpoint
    from pixcodec.cli.sample_cmd import reconstructions, write_grid
    torch.set_num_threads(1)
    errors = {}
    for data in {r["data"] for r in runs.values()}:
        originals = test_images(data, args, args.checkpoints / "originals")
        for name, run in runs.items():
            if run["data"] != data or run["model"] != "pixelcnn_ae":
                continue
            baseline = f"{name.split('_')[0]}_conv{run['hparams'].get('embed')}"
            with_baseline = run["hparams"]["latent"] == "vector" and baseline in runs
            ae = checkpoint.load_model(args.checkpoints / f"{name}.pt")
            images, columns = reconstructions(ae, originals, args.draws,
                                              args.checkpoints / f"{baseline}.pt" if with_baseline else None,
                                              torch.Generator().manual_seed(0))
            write_grid(out / f"reconstruct_{name}.png", images, columns, ae.in_channels, True, name)
            rows = images.view(len(originals), columns, *images.shape[1:]).double()   # (N, columns, C, H, W)
            errors[name] = {"draws_mse": float(((rows[:, 1:1 + args.draws] - rows[:, :1]) ** 2).mean())}
            if with_baseline:
                errors[name]["baseline"] = baseline
                errors[name]["baseline_mse"] = float(((rows[:, -1] - rows[:, 0]) ** 2).mean())
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--baseline-minutes", type=float, default=3.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--datasets", default="fashion-mnist,cifar10")
    parser.add_argument("--bottlenecks", default="2,10,100")
    parser.add_argument("--only", default=None, help="Comma-separated run names (default: all).")
    parser.add_argument("--eval-images", type=int, default=1000)
    parser.add_argument("--pictures", type=int, default=8)
    parser.add_argument("--draws", type=int, default=6)
    parser.add_argument("--checkpoints", type=Path, default=Path("runs/ae_experiment"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    runs = plan(args.datasets.split(","), [int(b) for b in args.bottlenecks.split(",")])
    if args.only:
        runs = [r for r in runs if r["name"] in args.only.split(",")]
    results = args.out / "runs"
    for folder in (args.checkpoints, results):
        folder.mkdir(parents=True, exist_ok=True)
    order = sorted(runs, key=lambda r: bool(r.get("baseline")))     # the long runs first
    with ThreadPoolExecutor(args.jobs) as pool:
        done = {r["name"]: r for r in pool.map(lambda r: train_and_evaluate(r, args, args.checkpoints, results), order)}
    errors = pictures(done, args, args.out) if args.pictures else {}
    summary = []
    for name, r in done.items():
        plain = done.get(f"{name.split('_')[0]}_{'shallow_' if r['hparams'].get('layers') == 2 else ''}plain")
        e = r["eval"]
        summary.append({"run": name, "model": r["model"], "steps": r["steps"], "train_seconds": r["train_seconds"],
                        "bits_per_dim": e["bits_per_dim"], "latent_bits_per_dim": e.get("latent_bits_per_dim"),
                        "gain_over_plain": plain["eval"]["bits_per_dim"] - e["bits_per_dim"]
                        if plain and name != plain["name"] else None, **latent_checks(r, args),
                        **errors.get(name, {})})
    (args.out / "summary.json").write_text(json.dumps(
        {"command": " ".join(sys.argv), "minutes": args.minutes, "baseline_minutes": args.baseline_minutes,
         "jobs": args.jobs, "eval_images": args.eval_images, "decoder": DECODER, "runs": summary}, indent=1) + "\n")
    for row in summary:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
