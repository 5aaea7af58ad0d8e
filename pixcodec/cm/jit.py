"""The one place the stage's kernels are compiled: numba's ``njit``, its cache on disk.

No fast-math and no parallel loops: every operation is an integer one in the order written, so
the compiled code computes what the interpreter does. With NUMBA_DISABLE_JIT=1 the same
functions run as plain Python (the test's reference).
"""
from __future__ import annotations

import numba


def njit(function):
    return numba.njit(cache=True, nogil=True)(function)
