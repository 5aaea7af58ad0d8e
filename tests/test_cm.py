"""The context-mixing stage: integer tables that are the same everywhere, a binary coder that
round-trips, a stage that decodes exactly what it coded in lockstep tile order on awkward
shapes, and compiled kernels that compute what the interpreter does."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pixcodec.cm import coder
from pixcodec.cm.jit import STAMP, drop_stale, sources_digest
from pixcodec.cm.stage import Stage, lockstep_order as lockstep
from pixcodec.cm.tables import SQUASH, STRETCH, digest
from pixcodec.errors import PixcodecError


def test_tables_are_pinned_monotone_and_inverse():
    assert digest() == "c8f62aee6cb2a6d043dc3d55654cf47b32bf17513d687166a53510472d12f265"
    assert (np.diff(SQUASH) >= 0).all() and SQUASH[0] == 1 and SQUASH[-1] == 4095 and SQUASH[2048] == 2048
    assert (np.diff(STRETCH) >= 0).all() and STRETCH[0] == -2047 and STRETCH[4095] == 2047
    assert (STRETCH[1:] == -STRETCH[1:][::-1]).all()
    d = np.arange(-1000, 1001)
    assert np.abs(STRETCH[SQUASH[d + 2048]] - d).max() <= 8         # the flat ends round coarser


def test_the_binary_coder_round_trips_at_every_probability():
    rng = np.random.default_rng(1)
    probs = np.concatenate([[1, 4095, 1, 4095, 2048], rng.integers(1, 4096, 5000)])
    bits = (rng.integers(0, 4096, len(probs)) < probs).astype(np.int64)
    bits[:4] = [1, 0, 0, 1]                                          # the costliest surprises
    state, buf = coder.new_state(), np.zeros(2 * len(bits) + 16, np.uint8)
    for bit, p in zip(bits, probs):
        coder.encode_bit(state, buf, int(bit), int(p))
    data = buf[:coder.finish(state, buf)].copy()
    state = coder.new_state()
    coder.start_decoding(state, data)
    assert [coder.decode_bit(state, data, int(p)) for p in probs] == bits.tolist()


def toy_weights(image, ys, xs, cs, tile, odd_only=False):
    """A causal stand-in for the network: a peak at the west neighbour in the tile (128 at a
    tile's left edge); with ``odd_only``, channel 1 may take only odd values."""
    v = np.arange(256)
    rows = []
    for y, x, c in zip(ys, xs, cs):
        centre = int(image[y, x - 1, c]) if x % tile else 128
        w = 4000 // (1 + np.abs(v - centre)) + 1
        if odd_only and c == 1:
            w[v % 2 == 0] = 0
        rows.append(w)
    return np.array(rows, np.int64)


REVISIONS = pytest.mark.parametrize("revision", [1, 2, 3])


def encode(pixels, tile, odd_only=False, group=None, trace=0, revision=1):
    enc = Stage(pixels.shape, tile, revision, trace=trace).start()
    for ys, xs, cs in lockstep(pixels.shape, tile):
        for part in (range(len(ys)) if group == 1 else [slice(None)]):
            part = [part] if group == 1 else part
            enc.encode(ys[part], xs[part], cs[part], toy_weights(enc.image, ys[part], xs[part], cs[part], tile, odd_only),
                       pixels[ys[part], xs[part], cs[part]])
    return enc


def decode(data, shape, tile, odd_only=False, revision=1):
    dec = Stage(shape, tile, revision).start(data)
    for ys, xs, cs in lockstep(shape, tile):
        values = dec.decode(ys, xs, cs, toy_weights(dec.image, ys, xs, cs, tile, odd_only))
        assert np.array_equal(values, dec.image[ys, xs, cs])
    return dec.image


def round_trip(pixels, tile, odd_only=False, group=None, revision=1):
    data = encode(pixels, tile, odd_only, group, revision=revision).finish()
    return data, decode(data, pixels.shape, tile, odd_only, revision)


def picture(h, w, channels, seed):
    rng = np.random.default_rng(seed)
    base = np.cumsum(rng.integers(-3, 4, (h, w)), 1) + 120
    return np.clip(np.stack([base + 9 * c for c in range(channels)], 2), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape,tile", [((1, 1, 1), 8), ((1, 13, 3), 8), ((13, 1, 3), 4), ((65, 3, 1), 8),
                                        ((20, 17, 3), 8), ((9, 9, 3), 64)])
@REVISIONS
def test_the_stage_decodes_what_it_coded_on_awkward_shapes(shape, tile, revision):
    pixels = picture(*shape, seed=sum(shape))
    data, back = round_trip(pixels, tile, revision=revision)
    assert np.array_equal(back, pixels)


@REVISIONS
def test_forced_bits_cost_nothing_and_round_trip(revision):
    pixels = picture(16, 16, 3, seed=4)
    pixels[:, :, 1] |= 1                                            # channel 1 odd only
    data, back = round_trip(pixels, 8, odd_only=True, revision=revision)
    assert np.array_equal(back, pixels)
    enc = encode(pixels, 8, odd_only=True, trace=10 ** 5, revision=revision)
    assert enc.decisions == pixels.size * 8 - 16 * 16               # channel 1's last bit is forced


@REVISIONS
def test_the_bytes_do_not_depend_on_how_a_step_is_split(revision):
    pixels = picture(12, 10, 3, seed=7)
    assert round_trip(pixels, 4, revision=revision)[0] == round_trip(pixels, 4, group=1, revision=revision)[0]


def test_revision_2_learns_interpolated_chroma_that_revision_1_does_not():
    """Colour differences that a pipeline interpolated at every other column and row: the
    prediction maps find them within a few rows, the hashed contexts far later."""
    rng = np.random.default_rng(5)
    h, w = 48, 48
    luma = np.cumsum(rng.integers(-6, 7, (h, w)), 1) + 128
    coarse = rng.integers(-40, 41, (h // 2 + 1, w // 2 + 1, 2))
    chroma = np.zeros((h + 1, w + 1, 2), np.int64)
    chroma[::2, ::2] = coarse
    chroma[1::2] = (chroma[:-1:2] + chroma[2::2]) // 2
    chroma[:, 1::2] = (chroma[:, :-1:2] + chroma[:, 2::2]) // 2
    chroma = chroma[:h, :w]
    pixels = np.clip(np.stack([luma + chroma[..., 0], luma, luma + chroma[..., 1]], 2), 0, 255).astype(np.uint8)
    sizes = sizes_under(pixels, (1, 2))
    assert sizes[2] < 0.95 * sizes[1], sizes


def sizes_under(pixels, revisions) -> dict:
    """Each revision's stream size for ``pixels`` in one 64-pixel tile, each decoded exactly."""
    sizes = {}
    for revision in revisions:
        data, back = round_trip(pixels, 64, revision=revision)
        assert np.array_equal(back, pixels)
        sizes[revision] = len(data)
    return sizes


def test_revision_3_learns_brightness_dependent_statistics_sooner_than_revision_2():
    """Stripes of smooth dark samples beside noisy bright ones: revision 3's third mixer keys its
    weights by the levels of the mode and of W, and its new weight sets learn fast."""
    rng = np.random.default_rng(3)
    base = np.cumsum(rng.integers(-2, 3, (48, 48)), 1) + 40
    bright = (np.arange(48) // 8 % 2 == 1)[None, :]
    luma = np.where(bright, base + 150 + rng.integers(-12, 13, (48, 48)), base)
    pixels = np.clip(np.stack([luma, luma + 5, luma - 5], 2), 0, 255).astype(np.uint8)
    sizes = sizes_under(pixels, (2, 3))
    assert sizes[3] < 0.95 * sizes[2], sizes


def test_a_new_weight_set_learns_five_times_faster_in_revision_3():
    from pixcodec.cm.parts import mixer_learn as _mix_learn
    x_in = np.array([512, 64, -300], np.int64)
    steps = {}
    for falling in (False, True):
        mix = np.zeros((1, 4), np.int32)
        _mix_learn(mix, 0, x_in, 3, 1000, falling)
        steps[falling] = mix[0, :3].copy()
        assert mix[0, 3] == (1 if falling else 0)           # uses are counted only where they matter
    assert np.array_equal(steps[False], (x_in * 1000) >> 13)
    assert np.array_equal(steps[True], (x_in * 5000) >> 13)
    mix = np.zeros((1, 4), np.int32)
    mix[0, 3] = 1 << 20                                     # used often: the fixed rate
    _mix_learn(mix, 0, x_in, 3, 1000, True)
    assert np.array_equal(mix[0, :3], steps[False]) and mix[0, 3] == 1 << 20


def test_a_weightless_value_is_refused():
    pixels = picture(4, 4, 3, seed=1)
    pixels[0, 0, 1] = 2
    enc = Stage(pixels.shape, 8).start()
    with pytest.raises(Exception, match="no weight"):
        enc.encode(np.array([0]), np.array([0]), np.array([1]), toy_weights(pixels, [0], [0], [1], 8, True), [2])


@REVISIONS
def test_a_stream_is_read_exactly_to_its_end(revision):
    """A stream cut short is refused once decoding reads past its end; one with bytes after its
    last symbol, when it ends; a flipped bit decodes to something, which the file's CRC checks,
    or reads past the end."""
    pixels = picture(16, 16, 3, seed=2)
    data = round_trip(pixels, 8, revision=revision)[0]
    for damaged in (data[:len(data) // 2], b"", data[:-1]):
        with pytest.raises(PixcodecError, match="ended before"):
            decode(damaged, pixels.shape, 8, revision=revision)
    dec = Stage(pixels.shape, 8, revision).start(data + b"\0")
    for ys, xs, cs in lockstep(pixels.shape, 8):
        dec.decode(ys, xs, cs, toy_weights(dec.image, ys, xs, cs, 8))
    with pytest.raises(PixcodecError, match="after its last symbol"):
        dec.end()
    for bit in range(8):                              # or refused, when it reads past the end
        try:
            assert decode(bytes([data[0] ^ (1 << bit)]) + data[1:], pixels.shape, 8, revision=revision).shape == pixels.shape
        except PixcodecError as e:
            assert "ended before" in str(e)


def test_a_forged_stream_stops_in_proportion_to_its_bytes():
    """Certain weights make every decision nearly free; still, each costs at least 2^-12 of a
    byte, so 8 zero bytes stop a claim of a million subpixels after a few ten thousand."""
    shape = (1000, 1000, 1)
    dec, certain = Stage(shape, 64).start(bytes(8)), np.zeros((1000, 256), np.int64)
    certain[:, 0], certain[:, 1] = 1 << 40, 1
    decoded = 0
    with pytest.raises(PixcodecError, match="ended before"):
        for y in range(1000):
            dec.decode(np.full(1000, y), np.arange(1000), np.zeros(1000, np.int64), certain)
            decoded += 1000
    assert decoded < 100_000


TRACE = """
import hashlib, json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from test_cm import encode, picture
pixels = picture(9, 7, 3, seed=3)
enc = encode(pixels, 4, trace=10 ** 4, revision=int(sys.argv[2]))
print(json.dumps([enc.trace[:enc.decisions].tolist(), hashlib.sha256(enc.finish()).hexdigest()]))
"""


@REVISIONS
def test_compiled_kernels_compute_what_the_interpreter_does(revision):
    """The same rules run as plain Python (NUMBA_DISABLE_JIT=1, Python's unbounded integers) and
    compiled (int64): every decision's probability and every byte agree."""
    here = os.path.dirname(__file__)
    runs = [json.loads(subprocess.run([sys.executable, "-c", TRACE, here, str(revision)], capture_output=True, text=True,
                                      env={**os.environ, "NUMBA_DISABLE_JIT": flag}, check=True,
                                      timeout=300).stdout) for flag in ("1", "0")]
    assert runs[0] == runs[1] and len(runs[0][0]) > 9 * 7 * 3 * 6


def test_kernels_cached_from_other_sources_are_dropped(tmp_path):
    """numba checks a cached kernel against its own file only; model.py's kernel inlines
    coder.py's functions, so the cache must go when any source here changes."""
    cached = [tmp_path / "model.code-150.py311.nbi", tmp_path / "model.code-150.py311.1.nbc"]
    for path in cached:
        path.write_bytes(b"stale")
    (tmp_path / STAMP).write_text("an older coder.py")
    drop_stale(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [STAMP] and (tmp_path / STAMP).read_text() == sources_digest()
    cached[0].write_bytes(b"current")
    drop_stale(tmp_path)
    assert cached[0].exists()


def test_a_stream_past_its_first_buffer_grows_and_round_trips():
    """Noise under flat weights: 8 bits a subpixel, many times the first buffer's 4 KB."""
    pixels = np.random.default_rng(9).integers(0, 256, (60, 60, 3)).astype(np.uint8)
    flat = np.ones((60 * 60, 256), np.int64)
    enc, order = Stage(pixels.shape, 8).start(), list(lockstep(pixels.shape, 8))
    costs = sum(enc.encode(ys, xs, cs, flat[:len(ys)], pixels[ys, xs, cs]).sum() for ys, xs, cs in order)
    data = enc.finish()
    assert len(data) > 2 * 4096 and abs(8 * len(data) - costs) < 0.01 * costs      # the costs are the bytes
    dec = Stage(pixels.shape, 8).start(data)
    for ys, xs, cs in order:
        dec.decode(ys, xs, cs, flat[:len(ys)])
    assert np.array_equal(dec.image, pixels)


def test_fresh_tables_are_zero_writable_and_kept_off_huge_pages():
    from pixcodec.cm.model import fresh_zeros
    table = fresh_zeros((3, 1 << 20))
    assert table.shape == (3, 1 << 20) and table.dtype == np.int32 and table.flags.writeable
    assert not table.any()
    table[2, -1] = 7
    assert table.sum() == 7 and fresh_zeros((0, 4), np.uint8).shape == (0, 4)
    image = Stage((5, 7, 3), 4).image
    assert image.shape == (5, 7, 3) and image.dtype == np.uint8 and not image.any()
    if os.path.exists("/proc/self/smaps"):       # the mapping is marked "no huge pages" (nh)
        address, flags, inside = table.ctypes.data, None, False
        for line in open("/proc/self/smaps"):
            head = line.split()[0]
            if "-" in head and ":" not in head:
                low, high = (int(h, 16) for h in head.split("-"))
                inside = low <= address < high
            elif inside and head == "VmFlags:":
                flags = line.split()[1:]
        assert flags is not None and "nh" in flags
