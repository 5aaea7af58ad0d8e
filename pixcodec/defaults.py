"""The codec's defaults and limits, without torch: the CLI's options and help read them before
anything heavy is imported (``pixcodec --help`` answers in a fraction of a second)."""

DEFAULT_TILE = 64
# The tile each effort codes with when none is given: where the context-mixing stage runs, 128.
# Its contexts read only their own tile, and its counters learn the tiles in lockstep; larger
# tiles give it more of both, at about a third more decode time than 64 (benchmarks/results).
EFFORT_TILES = {1: 64, 2: 128, 3: 128, 4: 128}
DEFAULT_GROUP = 256
DEFAULT_EFFORT = 3
EFFORT_LEVELS = (1, 2, 3, 4)          # codec.EFFORTS holds what each level does
# What decompress accepts unless told otherwise, like Pillow's decompression-bomb limit: a file
# of a few bytes may truthfully claim a vast flat image, which costs minutes to hours to decode.
MAX_DECODE_PIXELS = 1 << 28           # 268 megapixels
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"}
