"""One line of progress on stderr, only when stderr is a terminal: the image's phase, its
steps, and ETAs from rates measured in this run (the phase's steps so far; for a folder, the
subpixels coded so far), never from a guess."""
from __future__ import annotations

import sys
import time

REDRAW_S = 0.2


def clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


class Bar:
    """A reporter (pixcodec/progress.py) for one image, inside an optional folder count."""

    def __init__(self, stream=None, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.name, self.label, self.total, self.done = "", "", None, 0
        self.phase_start = self.shown = 0.0
        self.folder = ""                  # "[3/24, folder ETA 3:40] "

    def start(self, name: str, folder: str = "", label: str = "reading") -> "Bar":
        self.name, self.folder, self.label, self.total, self.done = name, folder, label, None, 0
        self.phase_start = time.monotonic()
        self.draw(force=True)
        return self

    def phase(self, label: str, total: int | None) -> None:
        self.label, self.total, self.done = label, total, 0
        self.phase_start = time.monotonic()
        self.draw(force=True)

    def __call__(self, _step: int) -> None:
        self.done += 1
        self.draw()

    def draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.shown < REDRAW_S):
            return
        self.shown = now
        spent = now - self.phase_start
        if self.total:
            eta = f", ETA {clock((self.total - self.done) * spent / self.done)}" if self.done else ""
            where = f"{self.done}/{self.total} {100 * self.done / self.total:3.0f}%{eta}"
        else:
            where = f"{clock(spent)}"
        line = f"{self.folder}{self.name}: {self.label} {where}"
        self.stream.write("\r\x1b[K" + line[:200])
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


class FolderCount:
    """``[k/n, folder ETA m:ss]`` from the subpixels done so far and the time they took."""

    def __init__(self, sizes: list[int]):
        self.sizes, self.done, self.done_size, self.start = sizes, 0, 0, time.monotonic()

    def finished(self, index: int) -> None:
        self.done += 1
        self.done_size += self.sizes[index]

    def text(self) -> str:
        if len(self.sizes) < 2:
            return ""
        left = sum(self.sizes) - self.done_size
        eta = f", folder ETA {clock(left * (time.monotonic() - self.start) / self.done_size)}" if self.done_size else ""
        return f"[{self.done}/{len(self.sizes)}{eta}] "
