"""Codec speed and rate: cached vs naive decoding, encode/decode throughput, file vs model bits.

    python benchmarks/codec_speed.py --model runs/gated_cifar.pt --out benchmarks/results/codec_speed.json

Without --model a randomly initialised model of the given size is timed (speed does not
depend on the weights; rate does, so rate figures need a trained model). Figures:
  - naive_vs_cached: decoding one 32x32 image with the engine vs one full forward pass per
    subpixel. Every naive step costs the same, so it is timed over --naive-steps subpixels
    and scaled to the whole image; both sides are medians over --repeats.
  - batches_32: encode and decode subpixels/s for --images 32x32 images (crops of --photo,
    else synthetic), one file each.
  - photo: the same for one large image (--photo PATH, or a synthetic 768x512 one), tiled.
  - every encode reports file bits, the exact model's NLL bits and their ratio.
"""
from __future__ import annotations

import json
import platform
from pathlib import Path

import click
import torch

from pixcodec import checkpoint, models
from pixcodec.exact import engine
from pixcodec.bench import median_time
from pixcodec.codec import Codec
from pixcodec.pxc import parse
from pixcodec.cli.options import parse_value
from pixcodec.images.imageio import read_image


def code_images(codec: Codec, images: list[torch.Tensor], repeats: int) -> dict:
    enc_s, files = median_time(lambda: [codec.compress(im) for im in images], repeats)
    dec_s, decoded = median_time(lambda: [codec.decompress(f.data)[0] for f in files], repeats)
    assert all(torch.equal(a, b) for a, b in zip(decoded, images)), "round trip failed"
    subpixels = sum(im.numel() for im in images)
    file_bits = sum(8 * len(f.data) for f in files)
    nll_bits = sum(f.nll_bits for f in files)
    payload_bits = sum(8 * (len(f.data) - parse(f.data)[0].size) for f in files)   # streams + stored tiles
    return {"images": len(images), "subpixels": subpixels, "encode_s": enc_s, "decode_s": dec_s,
            "encode_subpixels_per_s": subpixels / enc_s, "decode_subpixels_per_s": subpixels / dec_s,
            "file_bits_per_subpixel": file_bits / subpixels, "nll_bits_per_subpixel": nll_bits / subpixels,
            "file_over_nll": file_bits / nll_bits, "payload_over_nll": payload_bits / nll_bits}


@click.command()
@click.option("--model", "model_path", type=click.Path(dir_okay=False), default=None, help="Checkpoint to time.")
@click.option("--name", default="pixelcnn", show_default=True, help="Registry model when no --model.")
@click.option("--channels", type=click.Choice(["1", "3"]), default="3", show_default=True)
@click.option("-H", "--hparam", "hparams", multiple=True, default=("hidden=64", "layers=6", "out_hidden=64", "head=laplace"),
              show_default=True)
@click.option("--images", type=int, default=8, show_default=True, help="32x32 images in the batch figure.")
@click.option("--photo", type=click.Path(dir_okay=False), default=None, help="A large image [default: synthetic 768x512].")
@click.option("--skip-photo", is_flag=True, help="Leave out the large-image figure (it is slow).")
@click.option("--naive-steps", type=int, default=48, show_default=True)
@click.option("--repeats", type=int, default=3, show_default=True)
@click.option("--threads", type=int, default=None)
@click.option("--out", type=click.Path(dir_okay=False), default="benchmarks/results/codec_speed.json", show_default=True)
def main(model_path, name, channels, hparams, images, photo, skip_photo, naive_steps, repeats, threads, out):
    if threads:
        torch.set_num_threads(threads)
    if model_path:
        model = checkpoint.load_model(model_path)
    else:
        torch.manual_seed(0)
        hp = {k: parse_value(v) for k, v in (h.split("=") for h in hparams)}
        model = models.build(name, int(channels), **hp).eval()
    c = model.in_channels
    codec = Codec.at_effort(model)          # what `pixcodec compress` does by default
    gen = torch.Generator().manual_seed(0)
    smooth = lambda h, w: ((torch.arange(h)[:, None] * 3 + torch.arange(w)[None] * 2)[None].expand(c, h, w)  # noqa: E731
                           + torch.randint(0, 24, (c, h, w), generator=gen)).clamp(0, 255).to(torch.uint8)
    report = {"benchmark": "codec_speed", "model": model.registry_name, "hparams": model.hparams, "channels": c,
              "checkpoint": model_path, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "machine": platform.machine(), "repeats": repeats}

    x = smooth(32, 32)[None]
    cached_s, _ = median_time(lambda: engine.run(model, codec.exact, 1, 32, 32, engine.teacher_forced(x)), repeats)
    naive_prefix_s, _ = median_time(lambda: engine.run_naive(model, codec.exact, 1, 32, 32, engine.teacher_forced(x),
                                                             limit=naive_steps), repeats)
    naive_s = naive_prefix_s * x.numel() / naive_steps
    report["naive_vs_cached"] = {"size": "32x32", "cached_decode_s": cached_s, "naive_decode_s_estimated": naive_s,
                                 "naive_steps_timed": naive_steps, "speedup": naive_s / cached_s}
    click.echo(f"32x32 decode: cached {cached_s:.2f} s, naive {naive_s:.1f} s (est.), {naive_s / cached_s:.0f}x", err=True)

    big = read_image(photo)[0] if photo else smooth(512, 768)
    # 32x32 crops of the photo when there is one: a photo model stores synthetic noise raw
    crops = [big[:, 32 * k:32 * k + 32, 64 * k:64 * k + 32] for k in range(images)] if photo else []
    small = [cr for cr in crops if cr.shape[1:] == (32, 32)] or [smooth(32, 32) for _ in range(images)]
    report["batches_32"] = {"source": "crops of the photo" if crops else "synthetic", **code_images(codec, small, repeats)}
    click.echo(f"32x32 x{len(small)}: {report['batches_32']}", err=True)
    if not skip_photo:
        report["photo"] = {"source": photo or "synthetic 768x512", **code_images(codec, [big], 1)}
        click.echo(f"photo: {report['photo']}", err=True)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=1))
    click.echo(f"wrote {out}", err=True)


if __name__ == "__main__":
    main()
