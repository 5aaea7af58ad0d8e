"""Files crafted on purpose: headers that lie with a good CRC, decompression bombs, hostile
checkpoints, and outputs raced by another writer. Each must end in one clean error, quickly and
in memory proportional to what the file really holds."""
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from pixcodec import checkpoint
from pixcodec.images.atomic import atomic_write
from pixcodec.codec import Codec
from pixcodec.errors import PixcodecError
from pixcodec.pxc import Header, SideInfo, StoredTiles, parse, stream_count

from conftest import header_lies, tiny_model
from test_cli_codec import clean_error, run

TESTS = Path(__file__).parent

# Each a header that passes every check, with empty streams: (height, width, tile, group).
BOMBS = [(32768, 32768, 32768, 1),        # one 1-gigapixel tile
         (1 << 20, 1024, 65535, 1),        # a 1M x 1K strip in tiles of 65535
         (4096, 4096, 1, 65535),           # 2^24 one-pixel tiles
         (16384, 16384, 64, 65535),        # one lockstep group of 65535 tiles
         (8192, 8192, 64, 256)]            # a plain 64-megapixel claim: minutes of zeros before


def forged(codec: Codec, height: int, width: int, tile: int, group: int, side=SideInfo(), mode="RGB") -> bytes:
    n = stream_count(height, width, tile, group, None if side.stored is None else side.stored.bits)
    return Header(mode, codec.id, height, width, tile, group, 0, [0] * n, side).pack()


def test_bombs_fail_fast_in_little_memory():
    """In a fresh process, so its peak memory is this test's alone: every bomb, budget lifted,
    fails in well under a second of decoding and less than 200 MB beyond the process's start."""
    script = f"""
import json, resource, sys, time
sys.path.insert(0, {str(TESTS)!r})
from conftest import tiny_model
from test_forged import BOMBS, forged
from pixcodec.codec import Codec
from pixcodec.errors import PixcodecError
codec = Codec(tiny_model("pixelcnn", 3))
base, out = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, []
for bomb in BOMBS:
    data, start = forged(codec, *bomb), time.perf_counter()
    try:
        codec.decompress(data, max_pixels=None)
        out.append([len(data), "decoded"])
    except PixcodecError as e:
        out.append([len(data), str(e), time.perf_counter() - start])
print(json.dumps([out, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results, peak_mb = json.loads(done.stdout)
    for (size, message, seconds), bomb in zip(results, BOMBS):
        assert size < 1200 and "ended long before" in message and seconds < 10, (bomb, message, seconds)
    assert peak_mb < 200, peak_mb


def test_the_decode_budget_refuses_a_vast_claim_at_once():
    codec = Codec(tiny_model("pixelcnn", 3))
    with pytest.raises(PixcodecError, match="megapixels"):
        codec.decompress(forged(codec, 32768, 32768, 32768, 1))
    with pytest.raises(PixcodecError, match="megapixels"):
        codec.decompress(forged(codec, 64, 64, 8, 4), max_pixels=1000)


def test_the_budget_from_the_command_line(tmp_path):
    model = tmp_path / "m.pt"
    checkpoint.save(model, tiny_model("pixelcnn", 3))
    codec = Codec(checkpoint.load_model(model))
    image = torch.randint(0, 256, (3, 9, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    (tmp_path / "a.pxc").write_bytes(codec.compress(image).data)
    clean_error(run("decompress", tmp_path / "a.pxc", "-m", model, "--max-pixels", 71), "megapixels", "--max-pixels")
    assert run("decompress", tmp_path / "a.pxc", "-m", model, "--max-pixels", 72).exit_code == 0
    assert run("decompress", tmp_path / "a.pxc", "-m", model, "--max-pixels", 0, "-o", tmp_path / "b.png").exit_code == 0
    (tmp_path / "big.pxc").write_bytes(forged(codec, 32768, 32768, 32768, 1))
    clean_error(run("decompress", tmp_path / "big.pxc", "-m", model, "-o", tmp_path / "c.png"), "megapixels")
    assert not (tmp_path / "c.png").exists()


def test_a_header_claiming_millions_of_stored_tiles_is_refused_without_listing_them():
    """2^24 one-pixel tiles, every one stored: the bits fit in 2 MiB, the pixels they promise do
    not, and the length check says so before any tile is listed."""
    codec = Codec(tiny_model("pixelcnn", 3))
    side = SideInfo(stored=StoredTiles(np.ones(1 << 24, dtype=bool)))
    data = forged(codec, 4096, 4096, 1, 1, side)
    assert len(data) > 1 << 21
    with pytest.raises(PixcodecError, match="promises"):
        parse(data)


def test_a_mode_byte_changed_to_1_bit_is_caught():
    """The pixel CRC does not cover the mode: a gray image relabelled 1-bit (CRC recomputed)
    would be written dithered. A 1-bit file must decode to 0 and 255 only."""
    codec = Codec(tiny_model("pixelcnn", 1))
    gray = torch.randint(0, 256, (1, 6, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    data = bytearray(codec.compress(gray, "L").data)
    size = parse(bytes(data))[0].size
    data[5] = 2                                                  # mode 1-bit
    data[size - 4:size] = struct.pack("<I", zlib.crc32(data[:size - 4]))
    with pytest.raises(PixcodecError, match="1-bit"):
        codec.decompress(bytes(data))


def test_header_lies_with_consistent_crcs_decode_exactly_or_fail_cleanly():
    """The fuzz family an attacker starts from: any header byte rewritten, its CRC made good
    again. Each result is the original image or one PixcodecError, quickly."""
    import time
    codec = Codec(tiny_model("pixelcnn", 3), tile=4, group=2)
    image = torch.randint(0, 256, (3, 9, 11), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    data = codec.compress(image).data
    size = parse(data)[0].size
    refused, start = 0, time.perf_counter()
    for trial, lie in enumerate(header_lies(data, size, 300, seed=4)):
        try:
            out = codec.decompress(lie)
        except PixcodecError:
            refused += 1
            continue
        assert torch.equal(out[0], image), f"trial {trial}: a lying header decoded to another image"
    assert refused > 250 and time.perf_counter() - start < 120


HOSTILE = {
    "hparams of the wrong type": {"hparams": {"hidden": "x"}},
    "state_dict a list": {"state_dict": []},
    "no hparams": {"hparams": None},
    "a vast width": {"hparams": {"hidden": 20000}},
    "a vast depth": {"hparams": {"hidden": 4000, "layers": 64}},
    "an unknown model": {"model": "resnet"},
    "a boolean channel count": {"in_channels": True},
    "an absurd hyperparameter": {"hparams": {"layers": 10 ** 9}},
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_checkpoint_gives_one_line(tmp_path, case):
    state = {"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "model": "pixelcnn", "in_channels": 3,
             "hparams": {"hidden": 6, "layers": 1, "out_hidden": 6}, "state_dict": {}}
    for key, value in HOSTILE[case].items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    (tmp_path / "a.png").write_bytes((TESTS / "data" / "golden_photo_rgb_v1.png").read_bytes())
    clean_error(run("compress", tmp_path / "a.png", "-m", path))


def test_an_output_created_while_we_wrote_is_never_replaced(tmp_path):
    target = tmp_path / "out.png"
    with pytest.raises(FileExistsError):
        with atomic_write(target, exclusive=True) as f:
            f.write(b"ours")
            target.write_bytes(b"theirs")             # another writer wins the name meanwhile
    assert target.read_bytes() == b"theirs" and os.listdir(tmp_path) == ["out.png"]
    with atomic_write(target) as f:                   # --force replaces it
        f.write(b"ours")
    assert target.read_bytes() == b"ours"


def test_an_allocation_failure_is_one_line(tmp_path, monkeypatch):
    """torch reports a failed CPU allocation as a RuntimeError, not a MemoryError."""
    model = tmp_path / "m.pt"
    checkpoint.save(model, tiny_model("pixelcnn", 3))
    image = torch.zeros(3, 4, 4, dtype=torch.uint8)
    (tmp_path / "a.pxc").write_bytes(Codec(checkpoint.load_model(model)).compress(image).data)

    def fail(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 4294967296 bytes. Error code 12 (Cannot allocate memory)")
    monkeypatch.setattr(Codec, "decompress", fail)
    clean_error(run("decompress", tmp_path / "a.pxc", "-m", model), "out of memory")
    assert not (tmp_path / "a.png").exists()
