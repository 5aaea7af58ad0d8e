"""The ``cm``, ``cm2`` and ``cm3`` sections: the file's symbols are coded through the context-mixing
stage (pixcodec/cm), which learns the image as it codes; no bytes. Each names one revision of
the stage's rules (``cm.model.REVISIONS``), and a file holds at most one of them."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import PixcodecError
from .sections import FLAG_ONLINE, Section

if TYPE_CHECKING:
    from ..cm.stage import Stage

FLAG_CM, FLAG_CM2, FLAG_CM3 = 1024, 2048, 4096
FLAGS_CM = FLAG_CM | FLAG_CM2 | FLAG_CM3


class ContextMixing(Section):
    flag, key, title = FLAG_CM, "cm", "context mixing"
    revision = 1

    @classmethod
    def allowed(cls, mode, flags):
        # one adaptive stage codes a file's symbols, not two: online mixing or another revision
        return not flags & (FLAG_ONLINE | (FLAGS_CM & ~cls.flag))

    def stage(self, shape: tuple[int, int, int], tile: int) -> "Stage":
        """A fresh stage for a file of coded shape (H, W, C) in these tiles."""
        from ..cm.stage import Stage
        return Stage(shape, tile, self.revision)

    @classmethod
    def describe(cls, section, stream_lengths):
        return {"context_mixing": f"revision {section.revision}" if section is not None else False}


class ContextMixing2(ContextMixing):
    """Revision 2: prediction maps beside the hashed contexts (FORMAT.md)."""
    flag, key, title = FLAG_CM2, "cm2", "context mixing, revision 2"
    revision = 2

    @classmethod
    def describe(cls, section, stream_lengths):
        # after ``cm`` in the layout: says only what it adds, leaving ``cm``'s word otherwise
        return super().describe(section, stream_lengths) if section is not None else {}


class ContextMixing3(ContextMixing2):
    """Revision 3: a third mixer and APM by levels, and mixers' rates that fall with use (FORMAT.md)."""
    flag, key, title = FLAG_CM3, "cm3", "context mixing, revision 3"
    revision = 3


REVISIONS = {cls.revision: cls for cls in (ContextMixing, ContextMixing2, ContextMixing3)}


def section(revision: int) -> ContextMixing:
    """The section a file coded under this revision of the stage holds."""
    if revision not in REVISIONS:
        raise PixcodecError(f"no context-mixing revision {revision}")
    return REVISIONS[revision]()
