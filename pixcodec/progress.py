"""Progress reports from long work: named phases, each with a count of steps when known.

A reporter is either a plain callable, called with each finished engine row of the main coding
or decoding pass (the library's original ``on_row``), or an object that also has
``phase(label, total)``, told where each phase begins (the CLI's bars, cli/progress_bar.py), so
that a bar moves from the first second: through the encoder's fits, every coding pass and the
decode that ``--verify`` runs.
"""
from __future__ import annotations

ROW_PHASES = ("coding", "decoding")


def _nothing(_step: int) -> None:
    pass


def phase(reporter, label: str, total: int | None):
    """Announce a phase to ``reporter``; the callable to give each finished step of it."""
    if reporter is None:
        return _nothing
    if hasattr(reporter, "phase"):
        reporter.phase(label, total)
        return reporter
    return reporter if label in ROW_PHASES else _nothing
