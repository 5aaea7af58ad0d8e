"""Regenerate the golden .pxc files (only when the format version changes on purpose).

    python tests/data/make_golden.py
"""
from pathlib import Path

import torch

from pixcodec import checkpoint, models
from pixcodec.codec import Codec

HERE = Path(__file__).parent


def golden_image() -> torch.Tensor:
    """A 5x7 RGB gradient with a little structure; fixed by arithmetic, not by an RNG."""
    i, j = torch.meshgrid(torch.arange(5), torch.arange(7), indexing="ij")
    return torch.stack([(i * 40 + j * 9) % 256, (i * 13 + j * 31 + 7) % 256, (i * j * 17) % 256]).to(torch.uint8)


if __name__ == "__main__":
    torch.manual_seed(0)
    model = models.build("gated_pixelcnn", 3, hidden=6, layers=1, out_hidden=6)
    checkpoint.save(HERE / "golden_model.pt", model)
    codec = Codec(checkpoint.load_model(HERE / "golden_model.pt"), tile=4, group=2)
    (HERE / "golden.pxc").write_bytes(codec.compress(golden_image()).data)
    print("wrote", HERE / "golden_model.pt", HERE / "golden.pxc")
