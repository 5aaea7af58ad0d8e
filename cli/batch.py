"""Coding a list of files: in this process, in ``--jobs`` worker processes, or sharded across
the ranks of a ``torchrun`` launch (the same gloo/nccl rendezvous as training).

Every file is coded by ``coding.code_one`` whatever runs it, with torch's threads set the same
way and the encoder's fits in one thread (pixcodec/threads.py), so the bytes are identical for
any ``--jobs``, ``--threads`` or number of ranks. Workers send back one ``Outcome`` per file;
this process prints them in input order.
"""
from __future__ import annotations

import os
import sys

import click

from pixcodec.errors import EXIT_INTEGRITY

from .coding import Item, Outcome, Settings, code_one, prepare
from .progress_bar import REDRAW_S, Bar, FolderCount
from .workers import Workers


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def run(settings: Settings, items: list[Item], jobs: int, quiet: bool, status) -> int:
    """Code every item; print each outcome; the exit status (0, 1 bad input, 3 integrity)."""
    if launched_by_torchrun():
        code = _ranks(settings, items, quiet, status)
        # every output is written and synced, and gloo is torn down: leave now, before the
        # interpreter's exit runs torch's C++ destructors, which under load aborted a rank
        # now and then ("terminate called without an active exception", exit -6)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if jobs > 1 and len(items) > 1:
        outcomes = _pool(settings, items, jobs, quiet, status)
    else:
        outcomes = _here(settings, items, quiet, status)
    _total(outcomes, quiet, status)
    return exit_status(outcomes)


def exit_status(outcomes: list[Outcome]) -> int:
    codes = {o.exit_code for o in outcomes if o.error}
    return EXIT_INTEGRITY if EXIT_INTEGRITY in codes else (1 if codes else 0)


def report(outcome: Outcome, quiet: bool, status) -> None:
    for warning in outcome.warnings:
        if not quiet:
            click.echo(f"warning: {warning}", err=True)
    if outcome.error:
        click.echo(f"Error: {outcome.error}", err=True)
    elif not quiet:
        status(outcome.line)


def _here(settings, items, quiet, status, prefix: str = "") -> list[Outcome]:
    codecs = prepare(settings)
    bar, folder = Bar(enabled=None if not quiet else False), FolderCount([i.size for i in items])
    outcomes = []
    for index, item in enumerate(items):
        outcome = code_one(settings, codecs, item, bar.start(item.label, folder.text()))
        bar.clear()
        folder.finished(index)
        if outcome.data_out is not None:              # standard output: the one item's bytes
            stdout = sys.stdout.buffer
            stdout.write(outcome.data_out)
            stdout.flush()
        report(outcome._replace(line=prefix + outcome.line), quiet, status)
        outcomes.append(outcome)
    return outcomes


def _prepared(settings: Settings):
    return settings, prepare(settings)


def _work(state, item: Item) -> Outcome:
    settings, codecs = state
    return code_one(settings, codecs, item, None)


def _pool(settings, items, jobs, quiet, status) -> list[Outcome]:
    bar, folder = Bar(enabled=None if not quiet else False), FolderCount([i.size for i in items])

    def died(index: int, code: int | None) -> Outcome:
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return Outcome(settings.command, error=f"{items[index].source}: the worker process coding it died "
                       f"({how}); the other files go on", exit_code=1)

    outcomes = []
    with Workers(min(jobs, len(items)), _prepared, (settings,), _work) as workers:
        bar.start(f"{len(items)} files in {jobs} processes", folder.text(), "working")
        # the clock moves while the workers do
        for index, outcome in enumerate(workers.map(items, died, lambda: bar.draw(force=True), REDRAW_S)):
            folder.finished(index)
            bar.clear()
            report(outcome, quiet, status)
            outcomes.append(outcome)
            if index + 1 < len(items):
                bar.start(f"{len(items)} files in {jobs} processes", folder.text(), "working")
    return outcomes


def _ranks(settings, items, quiet, status) -> int:
    """This rank's share (every world-th file from its rank), then the totals of all on rank 0."""
    import torch.distributed as torch_dist

    from pixcodec.training.distributed import Distributed

    dist = Distributed.from_environment()
    try:
        mine = _here(settings, items[dist.rank::dist.world], quiet, status, prefix=f"[rank {dist.rank}] ")
        gathered = [None] * dist.world
        torch_dist.all_gather_object(gathered, [o._replace(data_out=None) for o in mine])
        everything = [o for part in gathered for o in part]
        if dist.is_main:
            _total(everything, quiet, status, force=True)
        dist.barrier()            # no rank tears gloo down while another still talks to it
        return exit_status(everything)
    finally:
        dist.close()


def _total(outcomes: list[Outcome], quiet: bool, status, force: bool = False) -> None:
    done = [o for o in outcomes if not o.error]
    if quiet or (len(outcomes) < 2 and not force) or not done:
        return
    skipped = sum(o.skipped for o in done)
    coded = [o for o in done if not o.skipped]
    subpixels = sum(o.subpixels for o in coded)
    rate = f"{8 * sum(o.bytes for o in coded) / subpixels:.4f} bits/subpixel, " if subpixels and \
        coded[0].command == "compress" else ""
    status(f"total: {len(coded)} coded{f', {skipped} already done' if skipped else ''}"
           f"{f', {len(outcomes) - len(done)} failed' if len(done) < len(outcomes) else ''}: "
           f"{rate}{sum(o.bytes for o in coded)} bytes written, {sum(o.seconds for o in coded):.2f} s of coding")
