"""The command line's habits, as gzip, zstd and cjxl have them: - for the standard streams, -f,
-q, -v, exit statuses, output formats, clear refusals, start-up without torch, Ctrl-C."""
import io
import os
import pty
import signal
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from pixcodec import checkpoint
from pixcodec.errors import EXIT_INTEGRITY, EXIT_INTERRUPTED
from pixcodec.pxc import parse

from conftest import tiny_model
from test_cli_codec import GOLDEN_MODEL, clean_error, pixels, run

CLI = [sys.executable, "-m", "pixcodec.cli"]


def cli(*args, stdin: bytes = b"", **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], input=stdin, capture_output=True, timeout=300, **kwargs)


@pytest.fixture()
def photo(tmp_path):
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(rng.integers(0, 256, (9, 7), dtype=np.uint8)).save(tmp_path / "g.png")
    checkpoint.save(tmp_path / "gray.pt", tiny_model("gated_pixelcnn", 1))
    return tmp_path


@pytest.mark.parametrize("args", [["--help"], ["compress", "--help"], ["decompress", "--help"], ["compress"],
                                  ["compress", "a.png", "--effort", "9"], ["decompress", "x.pxc", "-j", "0"]])
def test_help_and_argument_errors_do_not_import_torch(args):
    code = ("import sys\nfrom pixcodec.cli.main import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    print('torch' in sys.modules, e.code, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
    imported, status = done.stderr.split()[-2:]
    assert imported == "False", done.stderr
    assert status == ("0" if "--help" in args else "2")


def test_ctrl_c_during_start_up_is_one_line_and_130(photo):
    process = subprocess.Popen([*CLI, "compress", photo / "a.png", "-m", GOLDEN_MODEL], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    time.sleep(0.8)                            # inside torch's import, or just after
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == EXIT_INTERRUPTED, err
    assert err.decode().strip() == "pixcodec: interrupted"
    assert not list(photo.glob(".*tmp"))


def test_pipes_both_ways(photo):
    png = (photo / "a.png").read_bytes()
    coded = cli("compress", "-", "-o", "-", "-m", GOLDEN_MODEL, "-e", "1", stdin=png)
    assert coded.returncode == 0, coded.stderr
    assert parse(coded.stdout)[0].width == 10 and b"bits/subpixel" in coded.stderr   # status on stderr
    back = cli("decompress", "-", "-m", GOLDEN_MODEL, stdin=coded.stdout)          # - in: - out
    assert back.returncode == 0, back.stderr
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(back.stdout))), pixels(photo / "a.png")[1])
    assert not (photo / "-").exists()
    tiff = cli("decompress", "-", "-m", GOLDEN_MODEL, "--format", "tif", stdin=coded.stdout)
    assert tiff.stdout[:4] == b"II*\x00"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(tiff.stdout))), pixels(photo / "a.png")[1])


def test_a_command_that_loaded_torch_leaves_at_once_with_its_status_and_streams_whole(photo):
    """After torch is loaded, main() exits through os._exit (cli/main.py ``leave``): the status,
    the status line and the output file must all be there as with an ordinary exit."""
    done = cli("compress", photo / "a.png", "-o", photo / "left.pxc", "-m", GOLDEN_MODEL, "-e", "1")
    assert done.returncode == 0 and b"bits/subpixel" in done.stdout and parse((photo / "left.pxc").read_bytes())
    missing = cli("decompress", photo / "nothing.pxc", "-m", GOLDEN_MODEL)
    assert missing.returncode == 1 and missing.stderr.decode().count("\n") == 1 and b"Traceback" not in missing.stderr


def test_binary_is_not_written_to_a_terminal(photo):
    leader, follower = pty.openpty()
    try:
        done = subprocess.run([*CLI, "compress", "-", "-m", GOLDEN_MODEL], input=(photo / "a.png").read_bytes(),
                              stdout=follower, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 2 and b"terminal" in done.stderr and b"Traceback" not in done.stderr


def test_force_quiet_and_verbose(photo):
    args = ["compress", photo / "a.png", "-m", GOLDEN_MODEL, "-e", "1"]
    assert run(*args, "-q").output == ""
    clean_error(run(*args), "exists", "-f/--force")
    again = run(*args, "-f", "-v")
    assert again.exit_code == 0 and "1 process(es) x 1 thread(s)" in again.stderr and "bits/subpixel" in again.stdout


def test_exit_status_tells_damage_from_bad_input(photo):
    assert run("compress", photo / "a.png", "-m", GOLDEN_MODEL, "-e", "1").exit_code == 0
    data = bytearray((photo / "a.pxc").read_bytes())
    data[-1] ^= 0x10                                   # the payload: the header still parses
    (photo / "bad.pxc").write_bytes(bytes(data))
    damaged = run("decompress", photo / "bad.pxc", "-m", GOLDEN_MODEL)
    assert damaged.exit_code == EXIT_INTEGRITY and "checksum" in damaged.stderr
    assert run("decompress", photo / "a.png", "-m", GOLDEN_MODEL, "-o", photo / "x.png").exit_code == 1


def test_the_magic_is_checked_before_the_output(photo):
    # a.png exists, and is not a .pxc: the user hears about the input first
    clean_error(run("decompress", photo / "a.png", "-o", photo / "a.png"), "not a .pxc file")


@pytest.mark.parametrize("suffix,image", [(".ppm", "a"), (".tif", "a"), (".bmp", "a"), (".webp", "a"),
                                          (".pgm", "g"), (".png", "g")])
def test_decompress_writes_the_format_its_name_asks_for(photo, suffix, image):
    model = GOLDEN_MODEL if image == "a" else photo / "gray.pt"
    assert run("compress", photo / f"{image}.png", "-m", model, "-e", "1").exit_code == 0
    result = run("decompress", photo / f"{image}.pxc", "-m", model, "-o", photo / f"back{suffix}")
    assert result.exit_code == 0, result.stderr
    import imagecodecs                          # a reader independent of the writer (Pillow)
    reader = {".tif": imagecodecs.tiff_decode, ".webp": imagecodecs.webp_decode, ".bmp": imagecodecs.bmp_decode,
              ".png": imagecodecs.png_decode}.get(suffix)
    data = (photo / f"back{suffix}").read_bytes()
    back = reader(data) if reader else np.asarray(Image.open(io.BytesIO(data)))
    want = pixels(photo / f"{image}.png")[1]
    assert np.array_equal(back[..., :3] if back.ndim == 3 and want.ndim == 3 else back, want)


def test_lossy_and_unfit_output_formats_are_refused(photo):
    assert run("compress", photo / "g.png", "-m", photo / "gray.pt", "-e", "1").exit_code == 0
    clean_error(run("decompress", photo / "g.pxc", "-m", photo / "gray.pt", "-o", photo / "g.jpg"), "lossy")
    clean_error(run("decompress", photo / "g.pxc", "-m", photo / "gray.pt", "-o", photo / "g.ppm"), ".pgm")
    clean_error(run("decompress", photo / "g.pxc", "-m", photo / "gray.pt", "-o", photo / "g.xyz"), "cannot write")
    rgba = np.random.default_rng(1).integers(0, 256, (5, 6, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(photo / "rgba.png")
    assert run("compress", photo / "rgba.png", "-m", GOLDEN_MODEL, "-e", "1").exit_code == 0
    clean_error(run("decompress", photo / "rgba.pxc", "-m", GOLDEN_MODEL, "-o", photo / "x.tif"), "alpha", ".png")
    assert not (photo / "x.tif").exists()


def test_write_errors_name_the_output_not_the_temporary_file(photo, monkeypatch):
    import pixcodec.images.imageio as imageio

    def fail(path, exclusive=False):
        raise PermissionError(13, "Permission denied", str(path.parent / f".{path.name}.abc.tmp"))
    monkeypatch.setattr(imageio, "atomic_write", fail)
    result = run("compress", photo / "a.png", "-m", GOLDEN_MODEL, "-e", "1", "-o", photo / "out.pxc")
    clean_error(result, "out.pxc", "Permission denied")
    assert ".tmp" not in result.stderr


def test_a_jpeg_is_coded_with_a_warning(photo):
    Image.open(photo / "a.png").save(photo / "j.jpg", quality=90)
    result = run("compress", photo / "j.jpg", "-m", GOLDEN_MODEL, "-e", "1")
    assert result.exit_code == 0 and "is a JPEG" in result.stderr and "larger than the JPEG" in result.stderr


def test_metadata_is_kept_and_said_when_dropped(photo):
    icc = b"\x00\x00\x02\x28fake profile" + bytes(20) + b"acsp" + bytes(range(256)) * 2    # its size and signature right
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "someone")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>kept</x:xmpmeta>")
    exif = Image.Exif()
    exif[0x010E] = "a description"
    Image.open(photo / "a.png").save(photo / "m.png", pnginfo=info, icc_profile=icc, exif=exif.tobytes())
    result = run("compress", photo / "m.png", "-m", GOLDEN_MODEL, "-e", "1")
    assert result.exit_code == 0 and "kept ICC+EXIF+XMP+tEXt" in result.stdout, result.output
    assert '"ICC", "EXIF", "XMP", "tEXt"' in run("info", photo / "m.pxc", "--json").stdout
    assert run("decompress", photo / "m.pxc", "-m", GOLDEN_MODEL, "-o", photo / "back.png").exit_code == 0
    with Image.open(photo / "back.png") as back:
        assert back.info["icc_profile"] == icc and back.info["Author"] == "someone"
        assert "kept" in back.info["XML:com.adobe.xmp"] and back.getexif()[0x010E] == "a description"
        assert np.array_equal(np.asarray(back), pixels(photo / "a.png")[1])
    for kind, body in _chunks((photo / "back.png").read_bytes()):
        assert zlib.crc32(kind + body[:-4]) == int.from_bytes(body[-4:], "big")
    bmp = run("decompress", photo / "m.pxc", "-m", GOLDEN_MODEL, "-o", photo / "back.bmp")
    assert bmp.exit_code == 0 and "cannot hold ICC, EXIF, XMP, tEXt" in bmp.stderr and "dropped" in bmp.stderr
    webp = run("decompress", photo / "m.pxc", "-m", GOLDEN_MODEL, "-o", photo / "back.webp")
    assert webp.exit_code == 0 and "cannot hold tEXt" in webp.stderr
    with Image.open(photo / "back.webp") as back:
        assert back.info["icc_profile"] == icc


def _chunks(data):
    at = 8
    while at < len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        yield data[at + 4:at + 8], data[at + 8:at + 12 + length]
        at += 12 + length
