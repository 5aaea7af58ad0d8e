"""The codec's defaults and limits, without torch: the CLI's options and help read them before
anything heavy is imported (``pixcodec --help`` answers in a fraction of a second)."""

from .levers import EFFORTS

DEFAULT_TILE = 64                     # where no effort names one: two-part files, Codec()
EFFORT_TILES = {level: effort.tile for level, effort in EFFORTS.items()}
DEFAULT_GROUP = 256
# What decompress accepts unless told otherwise, like Pillow's decompression-bomb limit: a file
# of a few bytes may truthfully claim a vast flat image, which costs minutes to hours to decode.
MAX_DECODE_PIXELS = 1 << 28           # 268 megapixels
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"}
