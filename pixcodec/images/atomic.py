"""Files in and out: a read fails with one clean line; output is atomic, so a reader sees the
old file or the whole new one, never a half-written one. No torch here: ``pixcodec info`` uses it."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import PixcodecError

_UNFINISHED: set[str] = set()      # temporary files this process is writing now


def remove_unfinished() -> None:
    """Remove the temporary files of writes in progress: for a process told to stop now, which
    leaves through ``os._exit`` and so runs no ``finally``."""
    for tmp in list(_UNFINISHED):
        Path(tmp).unlink(missing_ok=True)


def read_file(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise PixcodecError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise PixcodecError(f"{path} is a directory") from None
    except OSError as e:
        raise PixcodecError(f"cannot read {path}: {e.strerror or e}") from None


@contextlib.contextmanager
def atomic_write(path: str | Path, exclusive: bool = False) -> Iterator[BinaryIO]:
    """Write to a temporary file beside ``path``, then rename it over ``path``.

    If the body raises, the temporary file is removed and ``path`` is untouched.
    The result gets ordinary permissions (0666 less the umask), not mkstemp's 0600.
    exclusive: never replace an existing ``path``, even one created while we wrote: the file is
    published by a hard link, which fails if the name exists (FileExistsError), in one step.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    _UNFINISHED.add(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        if exclusive:
            _publish_new(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _UNFINISHED.discard(tmp)


def _publish_new(tmp: str, path: Path) -> None:
    """Give the finished ``tmp`` the name ``path`` only if nothing has it."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:                    # no hard links here: claim the name exclusively, then fill it
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        os.replace(tmp, path)
        return
    os.unlink(tmp)
