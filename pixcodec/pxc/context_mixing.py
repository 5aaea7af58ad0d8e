"""The ``cm`` section: the file's symbols are coded through the context-mixing stage
(pixcodec/cm), which learns the image as it codes; no bytes."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .sections import FLAG_ONLINE, Section

if TYPE_CHECKING:
    from ..cm.stage import Stage

FLAG_CM = 1024


class ContextMixing(Section):
    flag, key, title = FLAG_CM, "cm", "context mixing"

    @classmethod
    def allowed(cls, mode, flags):
        return not flags & FLAG_ONLINE          # one adaptive stage codes a file's symbols, not two

    @staticmethod
    def stage(shape: tuple[int, int, int], tile: int) -> "Stage":
        """A fresh stage for a file of coded shape (H, W, C) in these tiles."""
        from ..cm.stage import Stage
        return Stage(shape, tile)

    @classmethod
    def describe(cls, section, stream_lengths):
        return {"context_mixing": section is not None}
