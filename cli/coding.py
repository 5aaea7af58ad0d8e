"""One file's compress or decompress, the same in this process, a ``--jobs`` worker or a
``torchrun`` rank. Failures come back as an ``Outcome`` with one line, never as an exception,
so that a folder goes on past a bad file and its exit status says what kind of failure it was.

torch is imported only when a file is coded: the commands' help and argument errors do not pay
for it.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import NamedTuple

from pixcodec.defaults import DEFAULT_GROUP
from pixcodec.levers import DEFAULT_EFFORT

STDIO = "-"


class Settings(NamedTuple):
    """What every file of one command is coded with; built with keywords."""
    command: str                 # "compress" or "decompress"
    model_path: str | None = None
    tile: int | None = None      # compress: None for the effort's
    group: int = DEFAULT_GROUP
    effort: int = DEFAULT_EFFORT
    max_pixels: int | None = None   # decompress: the decode budget
    force: bool = False
    verify: bool = False
    resume: bool = False
    threads: int = 1
    stdout_suffix: str = ".png"  # decompress: the format standard output gets


class Item(NamedTuple):
    source: str                  # a path, or "-" for standard input
    target: str                  # a path, or "-" for standard output
    size: int                    # the source's bytes: a folder's ETA weighs files by it

    @property
    def label(self) -> str:
        return "standard input" if self.source == STDIO else Path(self.source).name


class Outcome(NamedTuple):
    command: str
    line: str = ""
    error: str | None = None
    exit_code: int = 0
    warnings: tuple = ()
    data_out: bytes | None = None   # the output, when it goes to standard output
    bytes: int = 0
    subpixels: int = 0
    seconds: float = 0.0
    skipped: bool = False


def prepare(settings: Settings):
    """The codecs for this process, with torch's threads set."""
    from pixcodec.api import Codecs
    from pixcodec.threads import set_threads

    set_threads(settings.threads)
    if settings.command == "compress":
        return Codecs(settings.model_path, settings.tile, settings.group, settings.effort)
    return Codecs(settings.model_path)


def code_one(settings: Settings, codecs, item: Item, bar) -> Outcome:
    from pixcodec.errors import EXIT_INTEGRITY, IntegrityError, PixcodecError

    warnings: list[str] = []
    try:
        work = _compress if settings.command == "compress" else _decompress
        return work(settings, codecs, item, bar, warnings)
    except PixcodecError as e:
        code = EXIT_INTEGRITY if isinstance(e, IntegrityError) else 1
        return Outcome(settings.command, error=str(e), exit_code=code, warnings=tuple(warnings))


def _read(item: Item) -> bytes:
    from pixcodec.images.imageio import read_file

    return sys.stdin.buffer.read() if item.source == STDIO else read_file(item.source)


def _write(settings: Settings, item: Item, data: bytes) -> None:
    from pixcodec.images.imageio import write_new

    if item.target != STDIO:
        write_new(Path(item.target), data, settings.force)


def _compress(settings, codecs, item, bar, warnings) -> Outcome:
    import torch

    from pixcodec.errors import IntegrityError
    from pixcodec.images.formats import read_metadata
    from pixcodec.images.imageio import image_from_bytes, is_jpeg, refuse_existing
    from pixcodec.training.likelihood import two_part_split
    from pixcodec.pxc import restamped

    data = _read(item)
    image, mode, original = image_from_bytes(data, item.source)
    if is_jpeg(data):
        warnings.append(f"{item.source} is a JPEG: its decoded pixels are coded exactly, so the .pxc will "
                        f"probably be larger than the JPEG ({len(data)} bytes)")
    dropped: list[str] = []
    metadata = read_metadata(data, item.source, dropped)
    if dropped:
        warnings.append(f"{item.source}: metadata that cannot be valid is not kept: {'; '.join(dropped)}")
    codec = codecs.for_mode(mode)
    if item.target != STDIO and Path(item.target).exists():
        if settings.resume and _compressed_already(codec, item.target, image, original):
            return Outcome("compress", f"{item.source} -> {item.target}: exists and decodes to this image, skipped",
                           skipped=True)
        refuse_existing(item.target, settings.force)
    start = time.perf_counter()
    result = codec.compress(image, mode, bar, original=original)
    out = restamped(result.data, metadata=metadata) if metadata is not None else result.data
    seconds = time.perf_counter() - start
    _write(settings, item, out)
    if settings.verify:
        written = out if item.target == STDIO else Path(item.target).read_bytes()
        decoded = codec.decompress(written, bar, max_pixels=None)[0]
        if not torch.equal(decoded, image):
            raise IntegrityError(f"{item.target}: verification failed: the decoded image differs")
    n = image.numel()
    kept = f", kept {'+'.join(metadata.names())}" if metadata is not None else ""
    line = (f"{item.source} -> {item.target}: {8 * len(out) / n:.4f} bits/subpixel "
            f"(model {result.nll_bits / n:.4f}{two_part_split(result.nll_bits, result.latent_bits, n)}, "
            f"overhead {8 * len(out) - result.nll_bits:+.0f} bits), {len(out)} bytes, {seconds:.2f} s"
            f"{', verified' if settings.verify else ''}{kept}"
            + (f", {result.stored_tiles} tile(s) stored raw" if result.stored_tiles else ""))
    return Outcome("compress", line, warnings=tuple(warnings), data_out=out if item.target == STDIO else None,
                   bytes=len(out), subpixels=n, seconds=seconds)


def _compressed_already(codec, target: str, image, original) -> bool:
    """Whether an existing .pxc is this image (and what else its source kept), coded with this
    codec's model: decoded in full."""
    import torch

    from pixcodec.errors import PixcodecError
    from pixcodec.pxc import parse

    try:
        data = Path(target).read_bytes()
        header = parse(data)[0]
        if header.pixel_crc != header.crc_of(image.numpy(), original) or header.model_id != codec.id:
            return False
        return torch.equal(codec.decompress(data, max_pixels=None)[0], image)
    except (PixcodecError, OSError):
        return False


def _decompress(settings, codecs, item, bar, warnings) -> Outcome:
    from pixcodec.images import formats as image_formats
    from pixcodec.pxc.checks import check_budget
    from pixcodec.images.imageio import png_bytes, refuse_existing
    from pixcodec.images.pngfile import write_png
    from pixcodec.pxc import parse

    data = _read(item)
    header = parse(data)[0]                    # a file that is not a .pxc is told so first
    suffix = settings.stdout_suffix if item.target == STDIO else Path(item.target).suffix
    image_formats.check_suffix(suffix)
    if item.target != STDIO and Path(item.target).exists():
        if settings.resume and _decompressed_already(item.target, header):
            return Outcome("decompress", f"{item.source} -> {item.target}: exists with these pixels, skipped",
                           skipped=True)
        refuse_existing(item.target, settings.force)
    start = time.perf_counter()
    check_budget(header, settings.max_pixels)
    codec = codecs.for_file(header)
    image, mode = codec.decompress(data, bar, settings.max_pixels)
    original, metadata = header.side.original, header.side.metadata
    out, dropped = image_formats.encode(image.numpy(), mode, suffix, lambda: png_bytes(image, mode) if original is None
                                        else write_png(image, original), original, metadata)
    if dropped:
        warnings.append(f"{item.target}: {suffix} cannot hold {', '.join(dropped)} from the original: dropped "
                        "(write .png to keep everything)")
    _write(settings, item, out)
    line = f"{item.source} -> {item.target}: {image.shape[2]}x{image.shape[1]} {mode}, {time.perf_counter() - start:.2f} s"
    return Outcome("decompress", line, warnings=tuple(warnings), data_out=out if item.target == STDIO else None,
                   bytes=len(out), subpixels=image.numel(), seconds=time.perf_counter() - start)


def _decompressed_already(target: str, header) -> bool:
    """Whether an existing image has the pixels a .pxc's checksum names (a decode skipped)."""
    from pixcodec.errors import PixcodecError
    from pixcodec.images.imageio import read_image

    try:
        pixels, _, original = read_image(target)
    except PixcodecError:
        return False
    return (tuple(pixels.shape[1:]) == (header.height, header.width)
            and header.crc_of(pixels.numpy(), original) == header.pixel_crc)
