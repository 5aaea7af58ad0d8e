"""Time one in-process decode of a .pxc file with the bundled model it names (the codec built first).

    python benchmarks/decode_once.py photo.pxc [THREADS|auto]     # prints wall and CPU seconds

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

if len(sys.argv) > 2 and sys.argv[2] == "auto":   # the CLI's default (pixcodec/threads.py)
    from pixcodec.threads import default_threads, set_threads
    set_threads(default_threads())
elif len(sys.argv) > 2:                     # torch threads; 1 gives steadier A/B figures on a busy host
    import torch
    torch.set_num_threads(int(sys.argv[2]))
data = open(sys.argv[1], "rb").read()
codec = bundled.codec_for_id(parse(data)[0].model_id)
start, cpu = time.perf_counter(), time.process_time()
codec.decompress(data)
print(f"{time.perf_counter() - start:.3f} {time.process_time() - cpu:.3f}")
