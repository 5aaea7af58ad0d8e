"""`pixcodec demo`: the main job end to end on the bundled sample photos, with nothing to train:
one table of pixcodec against PNG, WebP and JPEG-XL (when installed), sizes and times, and a
plain word on where pixcodec loses."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from .common import effort_option, set_threads_option

NAMES = {"png": "PNG", "webp": "WebP", "jpegxl": "JPEG-XL"}


@click.command("demo")
@click.option("--keep", type=click.Path(file_okay=False), default=None,
              help="Keep the .pxc files and decoded PNGs in this folder [default: a temporary one].")
@click.option("-f", "--force", is_flag=True, help="Overwrite files in --keep.")
@effort_option("pixcodec's compress --effort.")
@set_threads_option
def command(keep, force, effort):
    """Compress and decompress the bundled sample photos with the bundled models, check every
    pixel, and print one table beside PNG, WebP lossless and JPEG-XL (see samples/PROVENANCE.md).
    The samples are coded side by side, one process each, on the cores there are."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from pixcodec import bundled
    from pixcodec.classic import available
    from pixcodec.threads import cores

    samples = sorted((Path(bundled.__file__).parent / "samples").glob("*.png"))
    classic = [c.name for c in available()]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        # one process a sample, as `compress -j` would: the samples code side by side on the cores
        workers = max(1, min(len(samples), cores()))
        jobs = [(sample, folder, force, effort, max(1, torch_threads() // workers)) for sample in samples]
        if workers == 1:
            rows = [one_sample(*job) for job in jobs]
        else:
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                rows = list(pool.map(one_sample, *zip(*jobs)))
    names = ["pixcodec"] + classic
    click.echo(table(rows, names))
    click.echo(verdict(rows, names))
    if "jpegxl" not in names:
        click.echo("JPEG-XL left out: pip install -e '.[bench]' adds it.")
    click.echo(f"every sample decoded to identical pixels; files in {folder}" if keep else
               "every sample decoded to identical pixels")


def torch_threads() -> int:
    import torch
    return torch.get_num_threads()


def one_sample(sample: Path, folder: Path, force: bool, effort: int, threads: int) -> dict:
    """Code, write, decode and check one sample; time pixcodec and each classical codec on it."""
    import torch

    from pixcodec import bundled
    from pixcodec.classic import available
    from pixcodec.errors import PixcodecError
    from pixcodec.images.imageio import read_image, write_new

    torch.set_num_threads(threads)
    image, mode, original = read_image(sample)
    codec = bundled.codec(bundled.for_mode(mode).name, effort=effort)
    start = time.perf_counter()
    data = codec.compress(image, mode, original=original).data
    encode_s = time.perf_counter() - start
    pxc = folder / sample.with_suffix(".pxc").name
    write_new(pxc, data, force)
    start = time.perf_counter()
    decoded, _ = codec.decompress(pxc.read_bytes())
    decode_s = time.perf_counter() - start
    if not torch.equal(decoded, image):
        raise PixcodecError(f"{sample.name}: the decoded pixels differ from the original")
    pixels = image.permute(1, 2, 0).numpy() if image.shape[0] == 3 else image[0].numpy()
    row = {"name": f"{sample.stem} ({image.shape[2]}x{image.shape[1]} {mode})",
           "pixcodec": (len(data), encode_s, decode_s), "subpixels": image.numel()}
    for c in available():
        start = time.perf_counter()
        coded = c.encode(pixels, 1)
        middle = time.perf_counter()
        c.decode(coded, 1)
        row[c.name] = (len(coded), middle - start, time.perf_counter() - middle)
    return row


def table(rows: list[dict], names: list[str]) -> str:
    """Markdown: bits/subpixel and bytes per codec, encode and decode seconds, and a total row."""
    total = {"name": "total", "subpixels": sum(r["subpixels"] for r in rows)}
    for n in names:
        total[n] = tuple(sum(r[n][k] for r in rows) for k in range(3))
    head = "| image | " + " | ".join(f"{NAMES.get(n, n)} bits/subpixel (bytes) | enc s | dec s" for n in names) + " |"
    lines = [head, "|" + "---|" * (1 + 3 * len(names))]
    for r in rows + [total]:
        cells = [f"{8 * r[n][0] / r['subpixels']:.3f} ({r[n][0]}) | {r[n][1]:.2f} | {r[n][2]:.3f}" for n in names]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(rows: list[dict], names: list[str]) -> str:
    """Where pixcodec loses, said plainly: against each codec that is smaller on some sample,
    and the decode-time cost."""
    said = []
    for n in names[1:]:
        lost = [r["name"].split(" ")[0] for r in rows if r[n][0] < r["pixcodec"][0]]
        if lost:
            said.append(f"pixcodec loses to {NAMES.get(n, n)} on {', '.join(lost)}")
    slowest = max(sum(r[n][2] for r in rows) for n in names[1:])
    ratio = sum(r["pixcodec"][2] for r in rows) / max(slowest, 1e-6)
    said.append(f"it decodes {ratio:.0f}x slower than the slowest classical codec here, and encodes slower still")
    wins = [NAMES.get(n, n) for n in names[1:] if all(r[n][0] >= r["pixcodec"][0] for r in rows)]
    lead = f"pixcodec is smaller than {' and '.join(wins)} on every sample; " if wins else ""
    return lead + "; ".join(said) + "."
