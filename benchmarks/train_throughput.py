"""Training throughput: forward + backward + Adam step, images per second, per model and size.

Every registered model is measured at each size on gray 28x28 (MNIST-like) and
RGB 32x32 (CIFAR-like) batches, on the CPU and, where present, on CUDA with the
same bf16 autocast that `pixcodec train` uses, with its loss (``model(x, nats=True)``).
For models with the predictive head (size "photo", the bundled photo model's shape) the
same steps are also timed with the loss read off 256 logits a subpixel, and the ratio of
the two is reported: what the closed-form normaliser buys. Each figure is the median of
--repeats timed steps after --warmup untimed ones. Results go to JSON.

    python benchmarks/train_throughput.py --out benchmarks/results/train_throughput.json
"""
from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

import click
import torch
import torch.nn.functional as F

from pixcodec import models

SIZES = {
    # the size the issue-3 CPU runs used, and the registry defaults (paper-sized)
    "small": {"hidden": 48, "layers": 8, "out_hidden": 96},
    "default": {},
    "photo": {"hidden": 96, "layers": 8, "out_hidden": 64, "head": "predictive"},   # bundled photo model v4
}
SHAPES = {"gray28": (1, 28, 28), "rgb32": (3, 32, 32)}


def sized(name: str, size: str) -> dict:
    known = models.hyperparameters(name)
    return {k: v for k, v in SIZES[size].items() if k in known}


def time_steps(model, x, device, warmup: int, repeats: int, logits: bool = False) -> list[float]:
    """logits=False: training's loss; True: cross-entropy over the 256 logits, the old way."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    times = []
    for i in range(warmup + repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
            out = model(x) if logits else model(x, nats=True)
        loss = F.cross_entropy(out.float(), x.long()) if logits else out.float().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


@click.command()
@click.option("--out", type=click.Path(dir_okay=False), default="benchmarks/results/train_throughput.json", show_default=True)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--repeats", type=int, default=5, show_default=True)
@click.option("--warmup", type=int, default=2, show_default=True)
@click.option("--threads", type=int, default=None, help="torch CPU threads [default: torch's choice].")
@click.option("--model", "only", multiple=True, help="Measure only these models.")
@click.option("--size", "sizes", multiple=True, type=click.Choice(list(SIZES)), help="Measure only these sizes.")
def main(out, batch_size, repeats, warmup, threads, only, sizes):
    if threads:
        torch.set_num_threads(threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        for name in only or models.names():
            for size in sizes or SIZES:
                for shape_name, (c, h, w) in SHAPES.items():
                    torch.manual_seed(0)
                    model = models.build(name, c, **sized(name, size)).to(device).train()
                    x = torch.randint(0, 256, (batch_size, c, h, w), dtype=torch.uint8, device=device)
                    times = time_steps(model, x, device, warmup, repeats)
                    median = statistics.median(times)
                    row = {"device": device.type, "model": name, "size": size, "hparams": model.hparams,
                           "parameters": sum(p.numel() for p in model.parameters()), "shape": shape_name,
                           "batch_size": batch_size, "median_step_s": median,
                           "images_per_s": batch_size / median, "step_times_s": times}
                    note = ""
                    if model.hparams.get("head") == "predictive":
                        row["logits_step_times_s"] = time_steps(model, x, device, warmup, repeats, logits=True)
                        row["logits_median_step_s"] = statistics.median(row["logits_step_times_s"])
                        row["closed_form_speedup"] = row["logits_median_step_s"] / median
                        note = f"  ({row['closed_form_speedup']:.1f}x the 256-logit loss)"
                    rows.append(row)
                    click.echo(f"{device.type:4} {name:16} {size:8} {shape_name:6} "
                               f"{row['parameters']:>9,} params  {row['images_per_s']:8.1f} img/s{note}", err=True)
    report = {"benchmark": "train_throughput", "torch": torch.__version__, "threads": torch.get_num_threads(),
              "machine": platform.machine(), "processor": platform.processor(),
              "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "results": rows}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=1))
    click.echo(f"wrote {out}", err=True)


if __name__ == "__main__":
    main()
