"""Images in and out, sample for sample: reading any input exactly or refusing it (imageio.py),
PNG through pypng (pngfile.py), the other lossless formats (formats.py), and atomic, exclusive
output files (atomic.py). Nothing here imports torch at import time."""
