"""The heads' own arithmetic: the median edge detector and the predictive head's peak."""
import torch

from pixcodec.models.heads import LogitsHead, med_context
from pixcodec.models.masked import channel_groups
from pixcodec.exact.numerics import FLOAT


def med_reference(x, i, j):
    """LOCO-I's predictor written out per pixel, with this project's edge rules."""
    if i == 0 and j == 0:
        return 128
    n = x[i - 1][j] if i > 0 else x[i][j - 1]
    w = x[i][j - 1] if j > 0 else x[i - 1][j]
    d = x[i - 1][j - 1] if i > 0 and j > 0 else (n if i > 0 else w)
    if d >= max(n, w):
        return min(n, w)
    if d <= min(n, w):
        return max(n, w)
    return n + w - d


def test_med_context_matches_the_per_pixel_definition():
    g = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (2, 3, 6, 9), dtype=torch.uint8, generator=g)
    image[1, :, 2:, 3:] = 200     # flat areas and edges, not just noise
    rows = torch.arange(6).repeat_interleave(9)
    cols = torch.arange(9).repeat(6)
    got = med_context(image, rows, cols).view(2, 6, 9, 3)
    for b in range(2):
        for c in range(3):
            plane = image[b, c].tolist()
            for i in range(6):
                for j in range(9):
                    assert int(got[b, i, j, c]) == med_reference(plane, i, j), (b, c, i, j)


def test_med_context_reads_only_finished_pixels():
    image = torch.randint(0, 256, (1, 1, 5, 5), dtype=torch.uint8)
    rows, cols = torch.tensor([2]), torch.tensor([2])
    before = med_context(image, rows, cols)
    later = image.clone()
    later[0, 0, 2, 2:] = 0
    later[0, 0, 3:] = 0
    later[0, 0, 1, 3:] = 0    # north-east: LOCO-I's predictor does not use it
    assert torch.equal(med_context(later, rows, cols), before)


def test_predictive_head_peaks_at_the_prediction_plus_the_coupled_surprise():
    head = LogitsHead(channel_groups(6, 3), 6, 3, "predictive")
    raw = torch.zeros(4, head.block)
    raw[:, 1] = 1.0                        # sharpness
    raw[:, 2], raw[:, 3] = 1.0, 0.0        # B copies R's surprise, ignores G's
    predicted = FLOAT.input(torch.tensor([[10, 20, 30]] * 4))
    seen = FLOAT.input(torch.tensor([[15, 99, 0]] * 4))
    for c, peak in [(0, 10), (1, 20 + 5), (2, 30 + 5)]:
        raw_c = raw.clone()
        if c == 1:
            raw_c[:, 2] = 1.0
        logits = head.shape(raw_c, FLOAT, c, (predicted, seen))
        assert logits.shape == (4, 256) and int(logits[0].argmax()) == peak, c
