"""Worker processes for ``--jobs``: items handed out one at a time, results back in input order.

Not multiprocessing.Pool, because of how it ends: ``terminate`` signals every worker, then
waits for it without limit. A worker signalled while still starting raised its SystemExit into
code that swallows it (torch's atexit and weakref callbacks do), lived on, and the CLI waited
forever. Here nothing waits without a deadline:
- workers are asked to leave, then terminated, then killed;
- their SIGTERM handler removes this process's unfinished temporary files and calls
  ``os._exit``, so no code it interrupts can keep the worker alive;
- a worker that dies while coding (killed for memory, say) costs that one item a result made by
  ``died``, and a fresh worker takes its place;
- a worker that cannot start answers every item with its error, instead of being restarted.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
from multiprocessing import connection
from typing import Callable, Iterator, Sequence

from pixcodec.images.atomic import remove_unfinished
from pixcodec.errors import PixcodecError

LEAVE_S = 2.0          # for an idle worker to read its stop message and exit
TERMINATE_S = 5.0      # then for SIGTERM to end it (its handler runs between bytecodes)


class WorkerFailed(RuntimeError):
    """An item's work raised in the worker: the worker's traceback, as text."""


def _failure(error: Exception) -> Exception:
    """What the parent raises: a PixcodecError as it is (one clean line), anything else as a
    WorkerFailed that carries the worker's traceback."""
    if isinstance(error, PixcodecError):
        return error
    return WorkerFailed(f"a worker process failed:\n{traceback.format_exc()}")


def _serve(conn, start: Callable, args: tuple, work: Callable) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)            # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, _leave_now)
    failed = None
    try:
        state = start(*args)
    except Exception as e:                                   # every item gets it: no respawn loop
        state, failed = None, _failure(e)
    while True:
        try:
            item = conn.recv()
        except EOFError:                                     # the parent has gone
            return
        if item is None:
            return
        if failed is not None:
            conn.send((False, failed))
            continue
        try:
            reply = (True, work(state, item))
        except Exception as e:
            reply = (False, _failure(e))
        conn.send(reply)


def _leave_now(*_) -> None:
    remove_unfinished()
    os._exit(1)


class _Slot:
    def __init__(self, context, start, args, work):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, start, args, work), daemon=True)
        self.process.start()
        child.close()
        self.item: int | None = None                       # the index it is working on


class Workers:
    """``count`` spawned processes, each running ``start(*args)`` once, then ``work(state, item)``
    for the items it is given (spawn, not fork: torch's OpenMP pool does not survive a fork)."""

    def __init__(self, count: int, start: Callable, args: tuple, work: Callable):
        self._spec = (start, args, work)
        self._context = multiprocessing.get_context("spawn")
        self._slots = [_Slot(self._context, *self._spec) for _ in range(count)]

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def map(self, items: Sequence, died: Callable[[int, int | None], object], tick: Callable[[], None],
            tick_s: float) -> Iterator:
        """Each item's result in input order; ``died(index, exit code)`` stands for the result of
        an item whose worker died; ``tick()`` every ``tick_s`` seconds of waiting."""
        results: dict[int, object] = {}
        given = shown = 0
        while shown < len(items):
            for slot in self._slots:
                if slot.item is None and given < len(items):
                    slot.item, given = given, given + 1
                    try:
                        slot.conn.send(items[slot.item])
                    except OSError:                          # it died idle: noticed below
                        pass
            busy = [s for s in self._slots if s.item is not None]
            ready = connection.wait([s.conn for s in busy] + [s.process.sentinel for s in busy], tick_s)
            if not ready:
                tick()
            for slot in busy:
                if slot.conn in ready or slot.process.sentinel in ready:
                    index = slot.item
                    results[index] = self._collect(slot, died)
            while shown in results:
                yield results.pop(shown)
                shown += 1

    def _collect(self, slot: _Slot, died):
        index, slot.item = slot.item, None
        try:
            if slot.conn.poll():
                ok, value = slot.conn.recv()
                if not ok:
                    raise value
                return value
        except (EOFError, OSError):
            pass
        slot.process.join(TERMINATE_S)
        code = slot.process.exitcode
        self._replace(slot)
        return died(index, code)

    def _replace(self, slot: _Slot) -> None:
        self._stop([slot])
        self._slots[self._slots.index(slot)] = _Slot(self._context, *self._spec)

    def close(self) -> None:
        self._stop(self._slots)
        self._slots = []

    @staticmethod
    def _stop(slots: list[_Slot]) -> None:
        for slot in slots:
            try:
                slot.conn.send(None)
            except OSError:
                pass
        for wait, end in ((LEAVE_S, "terminate"), (TERMINATE_S, "kill")):
            deadline = time.monotonic() + wait
            for slot in slots:
                slot.process.join(max(0.0, deadline - time.monotonic()))
            for slot in slots:
                if slot.process.exitcode is None:
                    getattr(slot.process, end)()
        for slot in slots:
            slot.process.join()
            slot.conn.close()
