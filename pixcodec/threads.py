"""How many threads torch uses, and the encoder's fits made independent of it.

The exact coding path is integer arithmetic: its results never depend on threads. The
encoder's float fits (tune.py, channel_tuning.py) do, because a parallel reduction adds in an
order that depends on how the work was split. So ``one_thread`` runs torch in one thread inside
them, and a fit that wants the cores cuts its work into fixed pieces (``pieces_map``): each
piece runs as it would alone, in as many Python threads as the caller had torch threads, and the
fit adds the pieces' results in their order. The same image and options give the same bytes at
any ``--threads``, ``--jobs`` or ``--group``.
"""
from __future__ import annotations

import functools
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ENV = "PIXCODEC_THREADS"


def cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                 # not Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """PIXCODEC_THREADS if set, else the cores that other work leaves idle, at least 1.

    torch's many small ops in several threads wait for one another, and a busy core stalls them
    all: beside two busy-loop processes on 2 cores a 768x512 decode takes 39 s in 2 threads and
    19 s in 1, while on a quiet machine 2 threads take 9 s and 1 takes 13 s
    (benchmarks/results/threads_under_load_*.json). The bytes are the same either way."""
    text = os.environ.get(ENV)
    if text is None:
        # torchrun's processes on this machine share what is idle
        share = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
        return max(1, (cores() - busy_elsewhere()) // share)
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{ENV} must be a whole number of threads, not {text!r}")
    return n


def busy_elsewhere(samples: int = 5) -> int:
    """Cores other work is using now: the kernel's count of runnable threads less this one, the
    median of a few readings 10 ms apart. Not the load average: that trails by a minute, and
    counts a pixcodec run that has just finished as load on the next."""
    counts = []
    try:
        for _ in range(samples):
            with open("/proc/stat") as f:
                counts += [int(line.split()[1]) - 1 for line in f if line.startswith("procs_running")]
            time.sleep(0.01)
    except (OSError, ValueError, IndexError):
        pass
    if counts:
        return max(0, int(statistics.median(counts)))
    try:
        return int(os.getloadavg()[0] + 0.5)
    except (AttributeError, OSError):      # neither here: assume the cores are ours
        return 0


def threads_per_job(jobs: int) -> int:
    """Each of ``jobs`` worker processes' share of the cores, so that jobs x threads never exceeds them."""
    return max(1, cores() // max(1, jobs))


def set_threads(n: int) -> None:
    import torch
    torch.set_num_threads(n)


_caller = threading.local()           # the torch threads a one_thread fit's caller had


def one_thread(fit):
    """Run ``fit`` with torch in one thread, restoring the caller's count after; the fit may
    spread fixed pieces of work over that many Python threads with ``pieces_map``."""
    @functools.wraps(fit)
    def wrapper(*args, **kwargs):
        import torch
        before, outer = torch.get_num_threads(), getattr(_caller, "threads", 1)
        torch.set_num_threads(1)
        _caller.threads = max(before, outer)        # a fit inside a fit keeps the first caller's cores
        try:
            return fit(*args, **kwargs)
        finally:
            torch.set_num_threads(before)
            _caller.threads = outer
    return wrapper


def pieces_map(work, pieces: list) -> list:
    """[work(p) for p in pieces], in as many Python threads as the caller of the ``one_thread``
    fit had torch threads (each runs torch in one; torch releases the GIL in its kernels). Each
    piece is computed as it would be alone and the results come back in the pieces' order, so
    whatever adds them adds in one fixed order: the same result at any thread count."""
    workers = min(len(pieces), getattr(_caller, "threads", 1))
    if workers <= 1:
        return [work(p) for p in pieces]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(work, pieces))


def set_summed_gradients(params: list, gradients, pieces: list) -> None:
    """Each param's ``.grad``: the sum of gradients(piece) (one tensor per param) over the
    pieces, computed by ``pieces_map`` and added in the pieces' order, so the same at any thread count."""
    for param, *grads in zip(params, *pieces_map(gradients, pieces)):
        param.grad = functools.reduce(lambda a, b: a + b, grads)
