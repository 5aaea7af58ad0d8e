"""Masks have exactly the values of the PixelRNN paper (figure 2 and section 3.4)."""
import torch

from pixcodec.models.masked import center_mask, channel_groups, raster_conv, row_conv

RGB = torch.arange(3)


def test_channel_groups_are_contiguous_blocks():
    assert channel_groups(6, 3).tolist() == [0, 0, 1, 1, 2, 2]
    assert channel_groups(768, 3).tolist() == [0] * 256 + [1] * 256 + [2] * 256
    assert channel_groups(5, 1).tolist() == [0] * 5


def test_center_masks_for_rgb():
    assert center_mask(RGB, RGB, "A").tolist() == [[0, 0, 0], [1, 0, 0], [1, 1, 0]]
    assert center_mask(RGB, RGB, "B").tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]


def test_7x7_mask_a_spatial_and_channel_pattern():
    conv = raster_conv(RGB, RGB, 7, "A")
    m = conv.mask
    assert m.shape == (3, 3, 7, 7)
    expected = torch.zeros(7, 7)
    expected[:3] = 1
    expected[3, :3] = 1
    for o in range(3):
        for i in range(3):
            want = expected.clone()
            want[3, 3] = float(o > i)
            assert torch.equal(m[o, i], want), (o, i)


def test_3x3_mask_b_includes_own_group():
    groups = channel_groups(6, 3)
    m = raster_conv(groups, groups, 3, "B").mask
    assert torch.equal(m[0, 0], torch.tensor([[1., 1, 1], [1, 1, 0], [0, 0, 0]]))
    assert torch.equal(m[:, :, 1, 1], (groups[:, None] >= groups[None, :]).float())
    assert m[:, :, 2].sum() == 0 and m[:, :, 1, 2].sum() == 0


def test_gray_mask_a_excludes_the_current_pixel():
    m = raster_conv(torch.zeros(1, dtype=torch.long), torch.zeros(4, dtype=torch.long), 3, "A").mask
    assert m[:, :, 1, 1].sum() == 0 and m[:, :, 0].sum() == 4 * 3


def test_horizontal_row_mask():
    m = row_conv(RGB, RGB, 3, "A").mask
    assert m.shape == (3, 3, 1, 2)
    assert torch.equal(m[:, :, 0, 0], torch.ones(3, 3))      # the pixel to the left, all channels
    assert torch.equal(m[:, :, 0, 1], center_mask(RGB, RGB, "A"))


def test_masks_are_buffers_not_parameters():
    conv = raster_conv(RGB, RGB, 3, "B")
    assert "mask" in dict(conv.named_buffers())
    assert all("mask" not in n for n, _ in conv.named_parameters())
