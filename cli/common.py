"""Options every coding command shares, without torch: threads, jobs, effort, quiet and verbose."""
from __future__ import annotations

import click

from pixcodec.levers import DEFAULT_EFFORT, EFFORTS, effort_help
from pixcodec.threads import ENV, default_threads, threads_per_job


def _threads(ctx, param, value):
    if value is not None:
        return value
    try:
        return default_threads()
    except ValueError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from None


threads_option = click.option(
    "-t", "--threads", type=click.IntRange(1), default=None, callback=_threads,
    help=f"torch threads per process [default: {ENV} if set, else the cores other work leaves idle, "
         "at least 1: threads wait on one another when other work holds a core]. The bytes never depend on it.")
jobs_option = click.option(
    "-j", "--jobs", type=click.IntRange(1), default=1, show_default=True,
    help="Code a folder's files in this many worker processes; with --threads left out, each gets "
         "cores/jobs threads, so jobs x threads never exceeds the cores.")


def effort_option(help: str | None = None):
    """``-e/--effort``: the levels of levers.EFFORTS, each told in the help unless ``help`` says otherwise."""
    return click.option("-e", "--effort", type=click.IntRange(min(EFFORTS), max(EFFORTS)), default=DEFAULT_EFFORT,
                        show_default=True, help=help or effort_help())


verbosity_options = [
    click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors: no status lines, warnings or bars (as gzip -q)."),
    click.option("-v", "--verbose", is_flag=True, help="Also say what runs where (processes, threads, effort)."),
]


def threads_for(jobs: int, threads: int, files: int) -> int:
    """Each worker's threads: as given, but never more than its share of the cores."""
    workers = min(jobs, max(files, 1))
    return min(threads, threads_per_job(workers)) if workers > 1 else threads


def set_threads_option(f):
    """``--threads`` on a command that runs torch in this process; applied before the command."""
    def apply(ctx, param, value):
        value = _threads(ctx, param, value)
        from pixcodec.threads import set_threads
        set_threads(value)
        return value
    return click.option("-t", "--threads", type=click.IntRange(1), default=None, callback=apply, expose_value=False,
                        help=f"torch threads [default: {ENV} if set, else the cores other work leaves idle, at least 1].")(f)

