"""Colour pixels in order (van den Oord et al. 2016): p(R | past) p(G | past, R) p(B | past, R, G)
through channel-ordered masks in PixelCNN (plain and gated), Row LSTM and Diagonal BiLSTM; the
colour-digits dataset; training and bits/dim from the command line."""

import itertools
import math

import numpy as np
import pytest
import torch

from hourglass.data import load
from hourglass.data.colour import PALETTE, colour_digits
from hourglass.models import build
from hourglass.nn.masked import channel_groups, ordered_mask, raster_mask

MODELS = {
    "pixelcnn": ("pixelcnn", dict(channels=12, n_layers=2, kernel_size=3, hidden=(12,))),
    "gated": ("pixelcnn", dict(channels=12, n_layers=2, kernel_size=3, hidden=(12,), gated=True)),
    "row-lstm": ("row-lstm", dict(channels=12, n_layers=1, kernel_size=3, hidden=(12,))),
    "diagonal-bilstm": ("diagonal-bilstm", dict(channels=12, n_layers=1, kernel_size=3,
                                                hidden=(12,))),
}


def make(variant, shape, seed=0, scale=None, **extra):
    name, cfg = MODELS[variant]
    torch.manual_seed(seed)
    model = build(name, input_shape=shape, **cfg, **extra).eval()
    if scale is not None:  # sharp conditionals: the normalization checks below then mean more
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, scale)
    return model


def dependence(model, shape, n=16, seed=0):
    """(D, D) bool: (i, j) where some logit of value i has a nonzero gradient w.r.t. input j."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g).requires_grad_(True)
    D = x[0].numel()
    logits = model.logits(x).reshape(n, -1, D)
    u = torch.randn(logits.shape[1], generator=g)
    return torch.stack([torch.autograd.grad((logits[:, :, i] @ u).sum(), x, retain_graph=True)[0]
                        .flatten(1).ne(0).any(0) for i in range(D)])


def test_ordered_masks_are_the_papers_masks():
    assert channel_groups(7, 3).tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert channel_groups(6, 3, parts=2).tolist() == [0, 1, 2, 0, 1, 2]
    a = ordered_mask(3, 3, 3, 3, include_center=False, groups=3)
    b = ordered_mask(3, 3, 3, 3, include_center=True, groups=3)
    # off the centre: the raster past for every pair of channels
    off = torch.ones(3, 3, dtype=torch.bool)
    off[1, 1] = False
    assert torch.equal(a[:, :, off], raster_mask(3, 3, include_center=False)[off].expand(3, 3, -1))
    assert torch.equal(a[:, :, 1, 1], torch.tensor([[0., 0, 0], [1, 0, 0], [1, 1, 0]]))  # c' < c
    assert torch.equal(b[:, :, 1, 1], torch.tensor([[1., 0, 0], [1, 1, 0], [1, 1, 1]]))  # c' <= c
    # one group: the spatial masks A and B for all channels
    assert torch.equal(ordered_mask(3, 3, 2, 2, include_center=True),
                       raster_mask(3, 3, include_center=True).expand(2, 2, 3, 3))


@pytest.mark.parametrize("likelihood", ["bernoulli", "categorical"])
@pytest.mark.parametrize("variant", list(MODELS))
def test_channel_c_sees_earlier_channels_of_its_pixel_and_no_later_pixel(variant, likelihood):
    shape = (3, 3, 3)
    model = make(variant, shape, likelihood=likelihood)
    dep = dependence(model, shape)                                  # (D, D), D = 27
    rank = model.order().flatten()                                  # 3 * pixel + channel
    channel, pixel = torch.arange(27) // 9, torch.arange(27) % 9
    assert torch.equal(rank, 3 * pixel + channel)
    assert int((dep & (rank[None, :] >= rank[:, None])).sum()) == 0  # nothing from the future
    same = pixel[:, None] == pixel[None, :]
    # within a pixel: G sees R, B sees R and G, R sees neither
    for p in range(9):
        r, g, b = p, 9 + p, 18 + p
        assert bool(dep[g, r]) and bool(dep[b, r]) and bool(dep[b, g])
    assert not bool((dep & same)[channel == 0].any())
    assert bool(dep[rank > 0].any(1).all())                         # every value uses its past


@pytest.mark.parametrize("variant", list(MODELS))
def test_without_channel_order_a_pixels_channels_are_predicted_together(variant):
    model = make(variant, (3, 2, 2), channel_order=False)
    dep = dependence(model, (3, 2, 2))
    pixel = torch.arange(12) % 4
    assert not bool(dep[pixel[:, None] == pixel[None, :]].any())
    assert torch.equal(model.order()[:, 0, 0], torch.zeros(3, dtype=torch.long))


def all_binary(shape):
    D = math.prod(shape)
    return torch.tensor(list(itertools.product((0.0, 1.0), repeat=D))).view(-1, *shape)


@pytest.mark.parametrize("variant", list(MODELS))
def test_probabilities_of_all_binary_2x2_colour_images_sum_to_one(variant):
    model = make(variant, (3, 2, 2), scale=0.5)
    with torch.no_grad():
        p = model.log_prob(all_binary((3, 2, 2))).double().exp()    # 4,096 images
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-5)
    assert float(p.max()) > 10 / 4096  # far from uniform: the sum means something


def test_probabilities_of_all_8bit_two_channel_pixels_sum_to_one():
    model = make("pixelcnn", (2, 1, 1), scale=0.3, likelihood="categorical")
    levels = torch.cartesian_prod(torch.arange(256), torch.arange(256)).float() / 255
    with torch.no_grad():
        p = torch.cat([model.log_prob(xb.view(-1, 2, 1, 1)) for xb in levels.split(8192)])
    assert float(p.double().exp().sum()) == pytest.approx(1.0, abs=1e-5)


def test_a_first_layer_that_lets_a_channel_see_itself_breaks_normalization():
    """The normalization checks have teeth: mask B on the image lets R predict R from itself."""
    model = make("pixelcnn", (3, 1, 2), scale=1.0)
    model.input.mask.copy_(ordered_mask(3, 3, 12, 3, include_center=True, groups=3))  # mask B
    with torch.no_grad():
        total = float(model.log_prob(all_binary((3, 1, 2))).double().exp().sum())
    assert abs(total - 1) > 1e-3  # 100 times the tolerance of the checks above


@pytest.mark.parametrize("variant", ["pixelcnn", "gated", "row-lstm", "diagonal-bilstm"])
def test_samples_are_drawn_channel_by_channel_from_the_density(variant):
    model = make(variant, (3, 1, 1), scale=0.7)
    n = 20000
    s = model.sample(n, generator=torch.Generator().manual_seed(1), batch_size=n, progress=False)
    codes = (s.flatten(1) * torch.tensor([4.0, 2.0, 1.0])).sum(1).long()  # R, G, B bits
    freq = torch.bincount(codes, minlength=8).double() / n
    with torch.no_grad():
        p = model.log_prob(all_binary((3, 1, 1))).double().exp()
    assert float((freq - p).abs().max()) < 0.012  # ~6 standard errors at n = 20000


def test_colour_digits_are_deterministic_and_made_of_their_factors():
    x, y, t = colour_digits()
    x2, _, t2 = colour_digits()
    assert np.array_equal(x, x2) and np.array_equal(t, t2)
    assert x.shape == (1797, 3, 8, 8) and x.dtype == np.uint8
    assert np.array_equal(t[:, 0], y) and bool((t[:, 1] != t[:, 2]).all())
    # a pixel of no ink is the background colour, one of full ink the foreground colour
    from sklearn.datasets import load_digits
    ink = load_digits().images
    fg, bg = PALETTE[t[:, 1].astype(int)], PALETTE[t[:, 2].astype(int)]
    n, r, c = np.nonzero(ink == 0)
    assert np.array_equal(x[n, :, r, c], bg[n])
    n, r, c = np.nonzero(ink == 16)
    assert np.array_equal(x[n, :, r, c], fg[n])
    ds = load("colour-digits")
    assert ds.shape == (3, 8, 8) and ds.n_classes == 10 and ds.train.t.shape[1] == 3


def test_cli_trains_a_colour_pixelcnn_with_256_levels_and_reports_bits_per_dim(tmp_path, capsys):
    from hourglass import runs
    from hourglass.cli.main import main
    from hourglass.runs.workflow import eval_inputs, evaluate_run
    out = tmp_path / "run"
    rc = main(["train", "pixelcnn", "--data", "colour-digits", "--n", "400", "--channels", "12",
               "--n-layers", "1", "--kernel-size", "3", "--hidden", "12", "--epochs", "2",
               "--lr", "0.01", "--quiet", "--no-eval", "--out", str(out)])
    assert rc == 0
    evaluate_run(out, figures=False)  # the figures' 64 samples take 64 x 192 steps: left out
    config, metrics = runs.read_config(out), runs.read_metrics(out)
    assert config["model_config"]["likelihood"] == "categorical"  # auto: 8-bit colour
    assert config["model_config"]["channel_order"] is True
    assert config["train"]["binarize"] == "none"
    model, _, _ = runs.load_model(out)
    x = eval_inputs(load("colour-digits").test.x, "none")
    with torch.no_grad():
        nll = float(-model.log_prob(x).mean())
    assert metrics["nll_exact"] is True
    assert metrics["bits_per_dim"] == pytest.approx(nll / (192 * math.log(2)), rel=1e-5)
    assert metrics["bits_per_dim"] < 8  # better than uniform over 256 levels
    assert main(["sample", str(out), "-n", "1", "--npy", str(tmp_path / "s.npy")]) == 0
    s = np.load(tmp_path / "s.npy")
    assert s.shape == (1, 3, 8, 8) and np.array_equal(s * 255, np.round(s * 255))
