"""--jobs worker processes: results in input order, a dead worker costs one item, and ending
never waits without a deadline, whatever a worker is doing."""
import os
import signal
import time

import pytest

from pixcodec.cli.workers import LEAVE_S, TERMINATE_S, WorkerFailed, Workers
from pixcodec.images.atomic import atomic_write
from pixcodec.errors import PixcodecError


def _start(mode):
    if mode == "refuse":
        raise PixcodecError("model.pt is not a pixcodec model")
    if mode == "slow":
        time.sleep(30)
    if mode == "deaf":                      # ignores SIGTERM and swallows everything
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            try:
                time.sleep(30)
            except BaseException:
                pass
    return os.getpid()


def _work(pid, item):
    kind, arg = item
    if kind == "sleep":
        time.sleep(arg)
        return (arg, pid)
    if kind == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "raise":
        raise ValueError(f"bad item {arg}")
    if kind == "write":                     # an unfinished atomic write, then a long wait
        with atomic_write(arg) as f:
            f.write(b"partial")
            f.flush()
            time.sleep(60)
    raise AssertionError(kind)


def _died(index, code):
    return ("died", index, code)


def _run(workers, items, tick=lambda: None):
    return list(workers.map(items, _died, tick, 0.05))


def test_results_come_back_in_input_order():
    items = [("sleep", s) for s in (0.6, 0.0, 0.3, 0.0, 0.1)]
    with Workers(2, _start, ("",), _work) as workers:
        results = _run(workers, items)
    assert [r[0] for r in results] == [0.6, 0.0, 0.3, 0.0, 0.1]
    assert len({r[1] for r in results}) == 2                # both workers took items


def test_a_worker_that_dies_costs_its_item_only():
    items = [("sleep", 0.0), ("die", 0), ("sleep", 0.0), ("sleep", 0.0), ("die", 0), ("sleep", 0.0)]
    with Workers(2, _start, ("",), _work) as workers:
        results = _run(workers, items)
    assert results[1] == ("died", 1, -signal.SIGKILL) and results[4] == ("died", 4, -signal.SIGKILL)
    assert [r[0] for i, r in enumerate(results) if i not in (1, 4)] == [0.0] * 4


def test_an_exception_in_the_work_arrives_with_its_traceback():
    with Workers(1, _start, ("",), _work) as workers:
        with pytest.raises(WorkerFailed, match="ValueError: bad item 7"):
            _run(workers, [("raise", 7)])


def test_a_worker_that_cannot_start_refuses_cleanly_instead_of_dying_item_by_item():
    with Workers(2, _start, ("refuse",), _work) as workers:
        with pytest.raises(PixcodecError, match="^model.pt is not a pixcodec model$"):
            _run(workers, [("sleep", 0.0)] * 3)


@pytest.mark.parametrize("mode", ["slow", "deaf"])
def test_ending_never_waits_on_a_worker_without_a_deadline(mode):
    """The hang that stopped CI: the work is done while a worker is still starting (or will not
    listen); closing ends it within the deadlines."""
    began = time.monotonic()
    workers = Workers(1, _start, (mode,), _work)
    time.sleep(1.0)
    workers.close()
    assert time.monotonic() - began < 1.0 + LEAVE_S + 2 * TERMINATE_S


def test_an_interrupted_worker_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "out.pxc"

    def interrupt():
        if list(tmp_path.glob(".out.pxc.*.tmp")):           # the write has begun
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with Workers(1, _start, ("",), _work) as workers:
            _run(workers, [("write", str(target))], tick=interrupt)
    assert not list(tmp_path.iterdir())
