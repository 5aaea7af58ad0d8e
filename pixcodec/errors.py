"""The one exception type the CLI turns into a clean one-line error."""


class PixcodecError(Exception):
    """A problem with the user's input or environment, not a bug in pixcodec.

    The message must stand alone on one line: the CLI prints it as
    ``Error: <message>`` and exits non-zero without a traceback.
    """


def allocation_failure(e: BaseException) -> bool:
    """Whether ``e`` is memory running out: Python's MemoryError, or torch's CPU allocator, which
    reports it as a RuntimeError."""
    return isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and "alloc" in str(e).lower()
                                          and "memory" in str(e).lower())


class IntegrityError(PixcodecError):
    """A file that parsed but whose decoded pixels fail their checksum, or a written file that
    does not decode to its image (``--verify``): exit status 3, apart from bad input's 1, the way
    ``gzip -t`` and ``xz -t`` tell damage from misuse."""


EXIT_INTEGRITY = 3
EXIT_INTERRUPTED = 130
