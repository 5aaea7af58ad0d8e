"""Write any missing golden .pxc file (existing ones pin the format and are never rewritten).

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


def golden_levels_image() -> torch.Tensor:
    """A 12x10 gray picture in 16 levels, stored as RGB: a version-4 file (gray flag, value sets)."""
    i, j = torch.meshgrid(torch.arange(12), torch.arange(10), indexing="ij")
    return (((i * 7 + j * 5) % 16) * 16).to(torch.uint8)[None].expand(3, -1, -1).contiguous()


def golden_palette_image() -> torch.Tensor:
    """A 9x11 RGB picture in 6 colours, two of them sharing red and green: a version-4 file with
    a palette (G coded given R, B given R and G where it is not known)."""
    colors = torch.tensor([[10, 200, 30], [10, 200, 90], [10, 40, 60], [120, 40, 60], [250, 250, 250], [0, 0, 0]])
    i, j = torch.meshgrid(torch.arange(9), torch.arange(11), indexing="ij")
    return colors[(i // 3 + j // 4 + i * j % 2) % 6].permute(2, 0, 1).to(torch.uint8).contiguous()


def golden_flat_image() -> torch.Tensor:
    """A flat 12x10 gray RGB picture: the untrained model is unsure there, so the encoder
    sharpens it (a version-4 file with the gray flag and the sharpness bytes)."""
    return torch.full((3, 12, 10), 77, dtype=torch.uint8)


def golden_tuned_image() -> torch.Tensor:
    """A 20x24 ramp whose G and B follow R's noise (G = R + 20, B = 230 - R): the untrained
    predictive model couples them loosely, and refitting its last layer pays (a version-5 file)."""
    i, j = torch.meshgrid(torch.arange(20), torch.arange(24), indexing="ij")
    base = 60 + i * 3 + j * 2 + (i * j * 7 + i * 3 + j) % 13 - 6
    return torch.stack([base, base + 20, 230 - base]).to(torch.uint8)


def golden_original_samples():
    """A 6x7 RGBA picture with 16-bit samples: a version-6 file whose original section keeps the
    low bytes and the alpha plane (numpy (H, W, 4) uint16, as pixcodec.decompress returns it)."""
    import numpy as np
    i, j = np.meshgrid(np.arange(6), np.arange(7), indexing="ij")
    return np.stack([i * 9000 + j * 77, j * 8000 + 5, (i * j * 1234) % 65536, 65535 - i * 300], axis=2).astype(np.uint16)


def golden_online_image() -> torch.Tensor:
    """A 16x20 RGB picture of repeated strokes: the untrained model never learns that values
    repeat, the online mixing's histograms do (a version-7 file)."""
    i, j = torch.meshgrid(torch.arange(16), torch.arange(20), indexing="ij")
    stroke = ((i // 2 + j // 3) % 3 == 0) | ((i * 3 + j) % 11 == 0)
    return torch.stack([torch.where(stroke, 30, 220), torch.where(stroke, 40, 210), torch.where(stroke, 90, 200)]).to(torch.uint8)


def golden_deltas_image() -> torch.Tensor:
    """A 24x32 RGB ramp with a little texture: coded with fixed channel deltas (a version-8 file)."""
    i, j = torch.meshgrid(torch.arange(24), torch.arange(32), indexing="ij")
    base = 40 + i * 5 + j * 3 + (i * j * 5 + i + 2 * j) % 9
    return torch.stack([base, 250 - base, (base * 3) % 256]).to(torch.uint8)


def golden_deltas(model) -> "ChannelDeltas":
    """Gains and shifts of every size and sign, by arithmetic: the file pins the fold, not a fit."""
    from pixcodec.pxc import ChannelDeltas
    n = torch.arange(ChannelDeltas.channel_count(model))
    return ChannelDeltas((n * 7) % 11 - 5, (n * 5) % 9 - 4)


GOLDEN = ("golden.pxc", "golden_stored.pxc", "golden_two_part.pxc", "golden_values.pxc", "golden_sharp.pxc",
          "golden_palette.pxc", "golden_tuned.pxc", "golden_original.pxc", "golden_online.pxc", "golden_deltas.pxc",
          "golden_samples_crc.pxc", "golden_cm.pxc", "golden_cm_palette.pxc", "golden_cm_gray.pxc", "golden_cm2.pxc",
          "golden_cm2_palette.pxc", "golden_cm2_gray.pxc", "golden_cm3.pxc", "golden_cm3_palette.pxc", "golden_cm3_gray.pxc")
# Files the bundled models wrote from golden_photo_rgb_v1.png, by weights file: each pins that
# model's decoding for good (tests/test_bundled.py); the v1 to v5 files predate this table.
# Each with the codec options it was written with.
BUNDLED_GOLDEN = {"golden_photo_rgb_v6.pxc": ("photo_rgb_v6.pt", dict(online=False, deltas=False)),
                  "golden_photo_rgb_v6_online.pxc": ("photo_rgb_v6.pt", dict(tuning=False, deltas=False)),
                  "golden_photo_rgb_v6_cm.pxc": ("photo_rgb_v6.pt", dict(tuning=False, deltas=False, cm=1)),
                  "golden_photo_rgb_v6_cm2.pxc": ("photo_rgb_v6.pt", dict(tuning=False, deltas=False, cm=2)),
                  "golden_photo_rgb_v6_cm3.pxc": ("photo_rgb_v6.pt", dict(tuning=False, deltas=False, cm=3))}
TINY_AE = dict(levels=4, factor=2, encoder_hidden=8, spatial=4, hidden=6, layers=1, out_hidden=6,
               prior_hidden=6, prior_layers=1)


def cm_revision(name: str) -> int:
    """The context-mixing revision a golden_cm* file was coded under: golden_cm2 is 2, golden_cm 1."""
    digit = name[len("golden_cm")]
    return int(digit) if digit.isdigit() else 1


def golden_codec(name: str):
    """golden.pxc: version 1, every tile coded; golden_stored.pxc: version 2, some tiles stored;
    golden_two_part.pxc: version 3, a tiny untrained auto-encoder's latent and pixel streams;
    golden_values.pxc: version 4, ``golden_levels_image`` coded as gray among its 16 values;
    golden_sharp.pxc: version 4, ``golden_flat_image`` with a sharpness per tile and channel;
    golden_palette.pxc: version 4, ``golden_palette_image`` coded through its palette;
    golden_tuned.pxc: version 5, ``golden_tuned_image`` through a tiny predictive-head model
    whose last layer the encoder refitted;
    golden_original.pxc: version 6, ``golden_original_samples`` (16-bit RGBA);
    golden_online.pxc: version 7, ``golden_online_image`` through the online mixing stage;
    golden_deltas.pxc: version 8, ``golden_deltas_image`` through the tiny predictive-head model
    with ``golden_deltas`` folded into every layer;
    golden_samples_crc.pxc: version 10, ``golden_original_samples`` as golden_original.pxc codes
    them, its pixel CRC over the 16-bit samples and alpha;
    golden_cm.pxc: version 11, ``golden_online_image`` through the context-mixing stage;
    golden_cm_palette.pxc: version 11, ``golden_palette_image`` through its palette and the stage;
    golden_cm_gray.pxc: version 11, ``golden_levels_image`` as gray among its 16 values, and the stage;
    golden_cm2.pxc, golden_cm2_palette.pxc, golden_cm2_gray.pxc: version 12, the same three
    through the stage's revision 2; golden_cm3*.pxc: version 13, through revision 3.
    Each codec has the options its file was made with (later encoder options off)."""
    if name == "golden_two_part.pxc":
        from pixcodec.two_part import TwoPartCodec
        return TwoPartCodec(checkpoint.load_model(HERE / "golden_ae.pt"), tile=4, group=2, fallback=False, adapt=False)
    if name == "golden_tuned.pxc":
        return Codec(checkpoint.load_model(HERE / "golden_predictive.pt"), tile=8, group=2, online=False, deltas=False)
    if name == "golden_deltas.pxc":
        model = checkpoint.load_model(HERE / "golden_predictive.pt")
        return Codec(model, tile=8, group=2, tuning=False, online=False, deltas=golden_deltas(model))
    model = checkpoint.load_model(HERE / "golden_model.pt")
    if name == "golden.pxc":
        return Codec(model, tile=4, group=2, fallback=False, value_sets=False, sharpness=False, palette=False, online=False,
                     deltas=False)
    if name == "golden_values.pxc":
        return Codec(model, tile=8, group=2, fallback=False, sharpness=False, palette=False, online=False, deltas=False)
    if name == "golden_sharp.pxc":
        return Codec(model, tile=4, group=2, fallback=False, value_sets=False, palette=False, online=False, deltas=False)
    if name == "golden_online.pxc":
        return Codec(model, tile=8, group=2, fallback=False, value_sets=False, sharpness=False, palette=False,
                     deltas=False)
    revision = cm_revision(name)
    if name in ("golden_cm.pxc", "golden_cm2.pxc", "golden_cm3.pxc"):
        return Codec(model, tile=8, group=2, fallback=False, value_sets=False, sharpness=False, palette=False,
                     deltas=False, cm=revision)
    if name.startswith("golden_cm") and name.endswith("_palette.pxc"):
        return Codec(model, tile=8, group=2, fallback=False, sharpness=False, deltas=False, cm=revision)
    if name.startswith("golden_cm") and name.endswith("_gray.pxc"):
        return Codec(model, tile=8, group=2, fallback=False, sharpness=False, palette=False, deltas=False, cm=revision)
    if name == "golden_palette.pxc":
        return Codec(model, tile=8, group=2, fallback=False, sharpness=False, online=False, deltas=False)
    return Codec(model, tile=2, group=2, value_sets=False, sharpness=False, palette=False, online=False, deltas=False)


if __name__ == "__main__":
    if not (HERE / "golden_model.pt").exists():          # the model never changes once files exist
        torch.manual_seed(0)
        checkpoint.save(HERE / "golden_model.pt", models.build("gated_pixelcnn", 3, hidden=6, layers=1, out_hidden=6))
    if not (HERE / "golden_ae.pt").exists():
        torch.manual_seed(0)
        checkpoint.save(HERE / "golden_ae.pt", models.build("pixelcnn_ae", 3, **TINY_AE))
    if not (HERE / "golden_predictive.pt").exists():
        torch.manual_seed(0)
        checkpoint.save(HERE / "golden_predictive.pt",
                        models.build("pixelcnn", 3, hidden=6, layers=1, out_hidden=6, head="predictive"))
    from pixcodec import bundled
    from pixcodec.images.imageio import read_image
    for name, (file, options) in BUNDLED_GOLDEN.items():
        if not (HERE / name).exists():
            entry = next(b for b in bundled.BUNDLED if b.file == file)
            image, mode, _ = read_image(HERE / "golden_photo_rgb_v1.png")
            model = bundled.load(entry.name)
            codec = Codec.at_effort(model, options["effort"]) if "effort" in options else Codec(model, **options)
            (HERE / name).write_bytes(codec.compress(image, mode).data)
            print("wrote", HERE / name)
    for name in GOLDEN:
        if name in ("golden_original.pxc", "golden_samples_crc.pxc") and not (HERE / name).exists():
            from pixcodec.api import as_pixels
            pixels, mode, original = as_pixels(golden_original_samples())
            (HERE / name).write_bytes(golden_codec(name).compress(pixels, mode, original=original).data)
            print("wrote", HERE / name)
        elif not (HERE / name).exists():
            image = {"golden_values.pxc": golden_levels_image, "golden_sharp.pxc": golden_flat_image,
                     "golden_palette.pxc": golden_palette_image,
                     "golden_tuned.pxc": golden_tuned_image, "golden_online.pxc": golden_online_image,
                     "golden_deltas.pxc": golden_deltas_image, "golden_cm.pxc": golden_online_image,
                     "golden_cm_palette.pxc": golden_palette_image,
                     "golden_cm_gray.pxc": golden_levels_image, "golden_cm2.pxc": golden_online_image,
                     "golden_cm2_palette.pxc": golden_palette_image,
                     "golden_cm2_gray.pxc": golden_levels_image, "golden_cm3.pxc": golden_online_image,
                     "golden_cm3_palette.pxc": golden_palette_image,
                     "golden_cm3_gray.pxc": golden_levels_image}.get(name, golden_image)()
            (HERE / name).write_bytes(golden_codec(name).compress(image, "RGB").data)
            print("wrote", HERE / name)
