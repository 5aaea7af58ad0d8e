"""Time one in-process decode of a .pxc file with the bundled model it names (the codec built first).

    python benchmarks/decode_once.py photo.pxc      # prints seconds

For an A/B, alternate runs of two checkouts (PYTHONPATH=<checkout>) on the same file. The import
falls back to the module the format lived in before ``pixcodec/pxc/``, so older checkouts run it.
"""
import sys
import time

from pixcodec import bundled

try:
    from pixcodec.pxc import parse
except ImportError:
    from pixcodec.container import parse

data = open(sys.argv[1], "rb").read()
codec = bundled.codec_for_id(parse(data)[0].model_id)
start = time.perf_counter()
codec.decompress(data)
print(f"{time.perf_counter() - start:.3f}")
