"""How much a context-mixing stage over the network could save (issue 30, first step): a
measurement harness, not the codec.

The bundled model's float distributions, per 64x64 tile as the codec cuts them, are quantized
to 16-bit weights; a numba kernel then walks the image in raster order and codes each subpixel
as 8 binary decisions, most significant bit first. Each decision's inputs are the network's
own probability for it (from its 256-way distribution, exactly) and adaptive bit counters under
hashed contexts of neighbour values, the pixel's earlier channels, simple predictors and the
network's mode; two logistic mixers and two APM stages (by node, and by the network's own
probability) give the final probability. Reported: the network alone (its 256-way code
length), context mixing without the network, both, and both without each input family. Code lengths are ideal (-log2 p); every neighbour is known (a
whole-image raster order, not today's lockstep tiles).

    python benchmarks/cm_potential.py ../shared/data/photos/train/waterloo-{mandrill,mountain}.png \
        --ablate --out benchmarks/results/cm_potential.json

The probabilities here are float64 and the counters hashed without checks: the figures say what
such a stage can save. The contexts are the exact stage's own (pixcodec/cm/model.py); the
exact, decodable stage is measured by benchmarks/cm_exact.py.
"""
import argparse
import json
import math
import time
from pathlib import Path

import numba
import numpy as np

from pixcodec.cm.contexts import N_CONTEXTS, context_hashes, hash4, neighbours

TABLE_BITS = 22
FAMILIES = {"order0": [0], "neighbours": [1, 2, 3, 4, 5, 6, 7], "predictors": [8, 9, 10],
            "channels": [11, 12, 16, 17, 18, 19, 20], "network contexts": [13, 14, 15]}


def network_weights(path: Path, tile: int = 64) -> tuple[np.ndarray, np.ndarray, int]:
    """(image (H, W, C) uint8, weights (H, W, C, 256) uint16, coded channels): the bundled model's
    softmax per tile, as floor(p * 65535) + 1. A gray image runs as R = G = B and codes R only."""
    import torch
    from PIL import Image

    from pixcodec import bundled
    torch.set_num_threads(1)
    model = bundled.load("photo-rgb")
    image = np.array(Image.open(path).convert("RGB"))
    gray = bool((image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all())
    h, w, _ = image.shape
    channels = 1 if gray else 3
    weights = np.empty((h, w, channels, 256), np.uint16)
    x = torch.from_numpy(image).permute(2, 0, 1).contiguous()
    with torch.no_grad():
        for y0 in range(0, h, tile):
            for x0 in range(0, w, tile):
                logits = model(x[None, :, y0:y0 + tile, x0:x0 + tile])[0]              # (256, 3, th, tw)
                p = torch.softmax(logits.double(), 0)[:, :channels]                   # (256, C, th, tw)
                q = (p * 65535).floor().add(1).clamp(max=65535).to(torch.int32)
                weights[y0:y0 + tile, x0:x0 + tile] = q.permute(2, 3, 1, 0).numpy().astype(np.uint16)
    return np.ascontiguousarray(image[:, :, :channels]), weights, channels


@numba.njit(cache=False)
def _squash(d):
    if d > 2047:
        d = 2047
    if d < -2047:
        d = -2047
    return 4096.0 / (1.0 + math.exp(-d / 256.0))


@numba.njit(cache=False)
def _stretch(p):
    return math.log(p / (4096.0 - p)) * 256.0


@numba.njit(cache=False)
def code_lengths(image, weights, use_network, use_ctx, lr_shift, tile=0):
    """(bits of the network alone, bits of the mixed stage) over the image in raster order; with
    ``tile``, a neighbour in another tile counts as unknown (as in today's lockstep order)."""
    h, w, channels = image.shape
    size = 1 << TABLE_BITS
    prob = np.full((N_CONTEXTS, size), 32768, np.int32)
    count = np.zeros((N_CONTEXTS, size), np.int32)
    n_inputs = N_CONTEXTS + 2
    n_sets = channels * 8 * 4
    mix_w = np.zeros((n_sets, n_inputs), np.float64)
    mix_v = np.zeros((channels * 8 * 16, n_inputs), np.float64)      # a second mixer: by the network's spread
    for s in range(n_sets):
        mix_w[s, 0] = 1.0 if use_network else 0.0
    for s in range(channels * 8 * 16):
        mix_v[s, 0] = 1.0 if use_network else 0.0
    apm = np.zeros((channels * 256, 33), np.float64)
    for c in range(channels * 256):
        for j in range(33):
            apm[c, j] = _squash((j - 16) * 128)
    apm2 = np.zeros((channels * 8 * 24, 33), np.float64)
    for c in range(channels * 8 * 24):
        for j in range(33):
            apm2[c, j] = _squash((j - 16) * 128)
    inputs = np.zeros(n_inputs, np.float64)
    idx = np.zeros(N_CONTEXTS, np.int64)
    ctx = np.zeros(N_CONTEXTS, np.int64)
    nb = np.zeros(16, np.int64)
    cum = np.zeros(257, np.int64)
    net_bits = 0.0
    cm_bits = 0.0
    for y in range(h):
        for x in range(w):
            for c in range(channels):
                v = int(image[y, x, c])
                cum[0] = 0
                best, mode = -1, 0
                for k in range(256):
                    wk = int(weights[y, x, c, k])
                    cum[k + 1] = cum[k] + wk
                    if wk > best:
                        best, mode = wk, k
                net_bits -= math.log2(int(weights[y, x, c, v]) / cum[256])
                spread = 0
                while spread < 15 and (cum[256] >> spread) > best:
                    spread += 1
                neighbours(image, y, x, c, tile if tile else h + w + 1, nb)
                context_hashes(nb, c, mode, spread, ctx)
                lo, hi, node = 0, 256, 1
                for bit_pos in range(8):
                    mid = (lo + hi) >> 1
                    bit = 1 if v >= mid else 0
                    s1 = cum[hi] - cum[mid]
                    s0 = cum[mid] - cum[lo]
                    st_net = math.log(s1 / s0) * 256.0 if s0 > 0 and s1 > 0 else (2047.0 if s1 > 0 else -2047.0)
                    st_net = min(2047.0, max(-2047.0, st_net))
                    inputs[0] = st_net / 256.0 if use_network else 0.0
                    inputs[1] = 1.0 / 4.0
                    for i in range(N_CONTEXTS):
                        slot = (hash4(ctx[i], node, c, i) & (size - 1)) if use_ctx[i] else -1
                        idx[i] = slot
                        inputs[2 + i] = _stretch(min(4095.0, max(1.0, prob[i, slot] / 16.0))) / 256.0 if slot >= 0 else 0.0
                    conf = min(3, int(abs(st_net) / 512.0))
                    ws = (c * 8 + bit_pos) * 4 + conf
                    vs = (c * 8 + bit_pos) * 16 + spread
                    dot = 0.0
                    dot2 = 0.0
                    for i in range(n_inputs):
                        dot += mix_w[ws, i] * inputs[i]
                        dot2 += mix_v[vs, i] * inputs[i]
                    p1 = min(4095.0, max(1.0, _squash(dot * 256.0)))
                    p2 = min(4095.0, max(1.0, _squash(dot2 * 256.0)))
                    p_mix = min(4095.0, max(1.0, _squash((dot + dot2) * 128.0)))
                    # APM on (channel, node): interpolate between the two bins of stretch(p_mix)
                    st = _stretch(p_mix)
                    pos = (st + 2048.0) / 128.0
                    j = min(31, max(0, int(pos)))
                    frac = pos - j
                    a_ctx = c * 256 + node
                    p_apm = apm[a_ctx, j] * (1 - frac) + apm[a_ctx, j + 1] * frac
                    b_ctx = (c * 8 + bit_pos) * 24 + min(23, int((st_net + 2048.0) / 4096.0 * 24))
                    p_apm2 = apm2[b_ctx, j] * (1 - frac) + apm2[b_ctx, j + 1] * frac
                    p = (2.0 * p_mix + 3.0 * p_apm + 3.0 * p_apm2) / 8.0
                    p = min(4095.0, max(1.0, p))
                    cm_bits -= math.log2((p if bit else 4096.0 - p) / 4096.0)
                    # learn
                    err = (bit * 4096.0 - p1) / 4096.0
                    err2 = (bit * 4096.0 - p2) / 4096.0
                    for i in range(n_inputs):
                        mix_w[ws, i] += inputs[i] * err * (2.0 ** -lr_shift)
                        mix_v[vs, i] += inputs[i] * err2 * (2.0 ** -lr_shift)
                    target = bit * 4096.0
                    apm[a_ctx, j] += (target - apm[a_ctx, j]) * (1 - frac) * 0.02
                    apm[a_ctx, j + 1] += (target - apm[a_ctx, j + 1]) * frac * 0.02
                    apm2[b_ctx, j] += (target - apm2[b_ctx, j]) * (1 - frac) * 0.02
                    apm2[b_ctx, j + 1] += (target - apm2[b_ctx, j + 1]) * frac * 0.02
                    for i in range(N_CONTEXTS):
                        slot = idx[i]
                        if slot >= 0:
                            n = count[i, slot]
                            prob[i, slot] += ((bit << 16) - prob[i, slot]) // (n + 2)
                            if n < 60:
                                count[i, slot] = n + 1
                    if bit:
                        lo = mid
                    else:
                        hi = mid
                    node = node * 2 + bit
    return net_bits, cm_bits


def measure(path: Path, lr_shift: int, ablate: bool, tile_contexts: bool = False) -> dict:
    start = time.perf_counter()
    image, weights, channels = network_weights(path)
    network_s = time.perf_counter() - start
    all_on = np.ones(N_CONTEXTS, np.bool_)
    subpixels = image.size
    row = {"image": path.name, "subpixels": subpixels, "network_s": round(network_s, 1)}
    start = time.perf_counter()
    net, both = code_lengths(image, weights, True, all_on, lr_shift)
    row["cm_s"] = round(time.perf_counter() - start, 1)
    row["network_alone"] = net / subpixels
    row["both"] = both / subpixels
    row["cm_alone"] = code_lengths(image, weights, False, all_on, lr_shift)[1] / subpixels
    if tile_contexts:
        row["both, neighbours within the 64x64 tile only"] = code_lengths(image, weights, True, all_on, lr_shift, 64)[1] / subpixels
    if ablate:
        for family, members in FAMILIES.items():
            mask = all_on.copy()
            mask[members] = False
            row[f"both without {family}"] = code_lengths(image, weights, True, mask, lr_shift)[1] / subpixels
    print(json.dumps(row))
    return row


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--lr-shift", type=int, default=10)
    parser.add_argument("--ablate", action="store_true")
    parser.add_argument("--tile-contexts", action="store_true", help="also: neighbours in other tiles unknown")
    parser.add_argument("--out")
    args = parser.parse_args()
    rows = [measure(p, args.lr_shift, args.ablate, args.tile_contexts) for p in args.images]
    keys = [k for k in rows[0] if k not in ("image", "subpixels", "network_s", "cm_s")]
    summary = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in keys}
    print(json.dumps(summary))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"command": "python benchmarks/cm_potential.py " + " ".join(str(p) for p in args.images)
                       + f" --lr-shift {args.lr_shift}" + (" --ablate" if args.ablate else "")
                       + (" --tile-contexts" if args.tile_contexts else ""),
                       "mean_bits_per_subpixel": summary, "rows": rows}, f, indent=1)
