"""The library's front door: pixcodec.compress / pixcodec.decompress on arrays and PIL images."""
import numpy as np
import pytest
from PIL import Image

import pixcodec
from pixcodec import checkpoint
from pixcodec.errors import PixcodecError
from pixcodec.pxc import parse

from conftest import tiny_model


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "tiny.pt"
    checkpoint.save(path, tiny_model("pixelcnn", 3))
    return path


def test_import_pixcodec_is_light_and_names_its_front_door():
    import subprocess
    import sys
    code = "import sys, pixcodec; assert 'torch' not in sys.modules; print(sorted(pixcodec.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "compress" in out and "decompress" in out


@pytest.mark.parametrize("kind", ["rgb", "gray", "bit", "pil-rgb", "pil-gray", "pil-bit"])
def test_arrays_and_pil_images_round_trip_exactly(model_file, kind):
    rng = np.random.default_rng(1)
    rgb, gray = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8), rng.integers(0, 256, (6, 9), dtype=np.uint8)
    bit = rng.integers(0, 2, (5, 4)).astype(bool)
    image = {"rgb": rgb, "gray": gray, "bit": bit, "pil-rgb": Image.fromarray(rgb), "pil-gray": Image.fromarray(gray),
             "pil-bit": Image.fromarray(bit)}[kind]
    data = pixcodec.compress(image, model_file)
    assert isinstance(data, bytes) and parse(data)[0].mode == {"rgb": "RGB", "gray": "L", "bit": "1"}[kind.split("-")[-1]]
    back = pixcodec.decompress(data, model_file)
    expected = np.asarray(image)
    assert back.dtype == expected.dtype and np.array_equal(back, expected)


def test_a_model_module_serves_as_well_as_its_checkpoint(model_file):
    image = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    model = checkpoint.load_model(model_file)
    assert pixcodec.compress(image, model) == pixcodec.compress(image, model_file)
    assert np.array_equal(pixcodec.decompress(pixcodec.compress(image, model), model), image)


@pytest.mark.parametrize("shape, dtype", [((5, 6), np.uint16), ((5, 6, 3), np.uint16), ((5, 6, 2), np.uint8),
                                          ((5, 6, 4), np.uint8), ((5, 6, 4), np.uint16)])
def test_alpha_and_16_bit_arrays_round_trip_exactly(model_file, shape, dtype):
    rng = np.random.default_rng(2)
    image = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    back = pixcodec.decompress(pixcodec.compress(image, model_file), model_file)
    assert back.dtype == image.dtype and np.array_equal(back, image)


@pytest.mark.parametrize("bad, message", [(np.zeros((4, 4), np.int32), "uint8"), (np.zeros((4, 4, 5), np.uint8), "planes"),
                                          (np.zeros((0, 4), np.uint8), "empty"), (Image.new("RGBA", (3, 3)), "alpha"),
                                          (Image.new("P", (3, 3)), "palette")])
def test_what_cannot_be_kept_exactly_is_refused(model_file, bad, message):
    with pytest.raises(PixcodecError, match=message):
        pixcodec.compress(bad, model_file)


def test_the_bundled_model_is_the_default():
    image = np.full((3, 4, 3), 90, np.uint8)
    image[1, 2] = (10, 200, 30)
    data = pixcodec.compress(image)
    assert np.array_equal(pixcodec.decompress(data), image)
    with pytest.raises(PixcodecError, match="magic"):
        pixcodec.decompress(b"not a pxc file")
