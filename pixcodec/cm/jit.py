"""The one place the stage's kernels are compiled: numba's ``njit``, its cache on disk.

No fast-math and no parallel loops: every operation is an integer one in the order written, so
the compiled code computes what the interpreter does. With NUMBA_DISABLE_JIT=1 the same
functions run as plain Python (the test's reference).

numba checks a cached kernel only against its own file's time stamp. The kernel in model.py
inlines the coder's functions from coder.py, so an edited or upgraded coder.py would leave a
stale kernel in use. So the cache folder carries a digest of every source file here; where it
differs, this package's cached kernels are removed before any is loaded.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numba

HERE = Path(__file__).parent
STAMP = "pixcodec-cm.sources"


def sources_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(HERE.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


_DIGEST = sources_digest()
_checked: set[str] = set()


def drop_stale(folder: Path, digest: str = _DIGEST) -> None:
    """Remove this package's cached kernels from ``folder`` unless they were made from these sources."""
    stamp = folder / STAMP
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:
        for cached in folder.glob("*.nb[ic]"):       # numba keeps a folder per source folder
            cached.unlink(missing_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest)
    except OSError:              # a cache we cannot tend: numba then compiles, as without one
        pass


def njit(function=None, *, inline: bool = False):
    """numba's njit, cached; ``inline``: compiled into each caller (numba's inline="always"): the
    kernel's per-decision helpers, whose many array arguments would otherwise cost a call each."""
    if function is None:
        return lambda f: njit(f, inline=inline)
    dispatcher = numba.njit(cache=True, nogil=True, inline="always" if inline else "never")(function)
    folder = getattr(getattr(dispatcher, "_cache", None), "_cache_path", None)
    if folder and folder not in _checked:
        _checked.add(folder)
        drop_stale(Path(folder))
    return dispatcher
