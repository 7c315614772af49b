"""The PixelRNN Diagonal BiLSTM: the diagonal order against the paper's skewed map, the
autoregressive property and its exact context, normalization, the exact log-likelihood, training,
sampling and the command line."""

import math

import pytest
import torch
import torch.nn.functional as F

from cli_helpers import cli
from test_autoregressive import all_binary, assert_layer_equals_paper_form, dependence
from hourglass.core.errors import ConfigError
from hourglass.data import load
from hourglass.models import build
from hourglass.models.diagonal_bilstm import DiagonalBiLSTMLayer, diagonal_order, shift_down
from hourglass.runs import read_metrics
from hourglass.train import TrainConfig, train

VARIANTS = {
    "k3": dict(channels=6, n_layers=2, kernel_size=3, hidden=(6,)),
    "k5-one-layer": dict(channels=6, n_layers=1, kernel_size=5, hidden=(6,)),
    "categorical": dict(channels=4, n_layers=1, kernel_size=3, hidden=(4,),
                        likelihood="categorical"),
}


def make(variant, shape, seed=0, scale=None, **extra):
    """Build a variant; `scale` redraws every weight from N(0, scale^2) for sharp conditionals."""
    torch.manual_seed(seed)
    model = build("diagonal-bilstm", input_shape=shape, **VARIANTS[variant], **extra).eval()
    if scale is not None:
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, scale)
    return model


def test_the_diagonal_order_visits_the_skewed_columns_top_down():
    order, sizes = diagonal_order(3, 4)
    # the skewed 3 x 4 map (row r shifted right by r), its columns read top-down:
    # [0 1 2 3 . .], [. 4 5 6 7 .], [. . 8 9 10 11]
    assert order[0].tolist() == [0, 1, 4, 2, 5, 8, 3, 6, 9, 7, 10, 11]
    assert sizes == (1, 2, 3, 3, 2, 1)
    # the flipped map: pixel (r, c) is (r, W - 1 - c) of the image
    assert order[1].tolist() == [3, 2, 7, 1, 6, 11, 0, 5, 10, 4, 9, 8]
    x = torch.arange(1.0, 13.0).view(3, 4, 1, 1)
    torch.testing.assert_close(shift_down(x)[..., 0, 0], F.pad(x[..., 0, 0], (0, 0, 1, 0))[:3])


@pytest.mark.parametrize("H, W, groups", [(5, 4, 1), (3, 7, 1), (9, 9, 1), (4, 4, 3), (1, 5, 1),
                                          (6, 1, 1)])
def test_the_diagonal_steps_equal_the_skewed_columns_of_the_paper(H, W, groups):
    torch.manual_seed(0)
    layer = DiagonalBiLSTMLayer(6, groups=groups).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_(0, 0.7)
    assert_layer_equals_paper_form(layer, layer.forward_skewed, (3, 6, H, W))


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("shape", [(1, 5, 4), (2, 3, 4), (1, 4, 6)], ids=["1ch", "2ch", "wide"])
def test_output_i_depends_on_the_past_only_and_on_all_of_it_but_one_pixel(variant, shape):
    # channels of a pixel predicted together here; their R -> G -> B order: tests/test_colour.py
    model = make(variant, shape, channel_order=False)
    dep = dependence(model, shape)
    rank = model.order().flatten()                               # (D,)
    future = rank[None, :] >= rank[:, None]                      # (i, j): j at or after i
    assert int((dep & future).sum()) == 0  # exactly zero gradient: no information from the future
    # the context is the whole past except the last pixel of the row above, which (r, c) sees
    # only through the first kernel: for c < W - 1 - k // 2 it is out of view
    _, H, W = shape
    half = VARIANTS[variant]["kernel_size"] // 2
    unseen = torch.zeros(H * W, H * W, dtype=torch.bool)
    for r in range(1, H):
        unseen[r * W: r * W + max(0, W - 1 - half), r * W - 1] = True
    unseen = unseen.repeat(shape[0], shape[0])                   # channels of a pixel alike
    assert torch.equal(~future & ~dep, unseen)


@pytest.mark.parametrize("variant", ["k3", "k5-one-layer"])
def test_probabilities_of_all_3x3_binary_images_sum_to_one(variant):
    model = make(variant, (1, 3, 3), scale=0.7)
    with torch.no_grad():
        p = model.log_prob(all_binary((1, 3, 3))).double().exp()
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-5)
    assert float(p.max()) > 5 / 512  # sharp conditionals, far from uniform: the sum means something


def test_probabilities_of_all_8bit_1x2_images_sum_to_one():
    model = make("categorical", (1, 1, 2), scale=0.3)
    levels = torch.cartesian_prod(torch.arange(256), torch.arange(256)).float() / 255
    with torch.no_grad():
        p = torch.cat([model.log_prob(xb.view(-1, 1, 1, 2)) for xb in levels.split(16384)])
    assert float(p.double().exp().sum()) == pytest.approx(1.0, abs=1e-5)


def test_log_prob_is_the_sum_of_the_per_pixel_bernoulli_log_likelihoods():
    model = make("k3", (2, 4, 5), scale=0.5)
    x = torch.rand(3, 2, 4, 5, generator=torch.Generator().manual_seed(0)).round()
    logits = model.logits(x)                                     # (3, 2, 4, 5)
    # $\log p(x) = \sum_i x_i \log \sigma(\ell_i) + (1 - x_i) \log \sigma(-\ell_i)$
    expected = (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).flatten(1).sum(1)
    torch.testing.assert_close(model.log_prob(x), expected)
    terms = model(x)
    torch.testing.assert_close(terms["loss"], -expected.mean())
    torch.testing.assert_close(terms["bits_per_dim"], -expected.mean() / (40 * math.log(2)))


def test_a_short_training_beats_independent_pixels():
    ds = load("digits")
    x_train, x_test = (ds.train.x[:1000] > 0.5).float(), (ds.test.x[:200] > 0.5).float()
    # the baseline: an independent Bernoulli per pixel at the training means
    p = x_train.mean(0).clamp(1e-3, 1 - 1e-3)
    baseline = float(-(x_test * p.log() + (1 - x_test) * (1 - p).log()).flatten(1).sum(1).mean())
    torch.manual_seed(0)
    model = build("diagonal-bilstm", input_shape=(1, 8, 8), channels=8, n_layers=1,
                  kernel_size=3, hidden=(16,))
    train(model, x_train, config=TrainConfig(epochs=5, batch_size=50, lr=1e-2, seed=0,
                                             binarize="none", progress=False))
    with torch.no_grad():
        nll = float(-model.eval().log_prob(x_test).mean())
    assert 15 < baseline < 30  # the per-pixel baseline of binarized 8x8 digits
    assert nll < baseline - 2.5  # 20.9 against 24.5 nats


def test_samples_have_the_data_shape_and_their_frequencies_match_exp_log_prob():
    model = make("k3", (1, 2, 2), scale=0.7)
    n = 20000
    s = model.sample(n, generator=torch.Generator().manual_seed(1), batch_size=n, progress=False)
    assert s.shape == (n, 1, 2, 2) and set(s.unique().tolist()) == {0.0, 1.0}
    codes = (s.flatten(1) * 2 ** torch.arange(3, -1, -1)).sum(1).long()  # binary number, MSB first
    freq = torch.bincount(codes, minlength=16).double() / n
    with torch.no_grad():
        p = model.log_prob(all_binary((1, 2, 2))).double().exp()
    assert float((freq - p).abs().max()) < 0.012  # ~6 standard errors at n = 20000
    levels = make("categorical", (2, 3, 3)).sample(5, progress=False) * 255
    assert levels.shape == (5, 2, 3, 3) and torch.equal(levels, levels.round())


def test_an_even_first_kernel_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match=r"The 'kernel_size' parameter of DiagonalBiLSTM must "
                                          r"be odd \(a masked kernel is centred on its pixel\)\. "
                                          r"Got 4"):
        build("diagonal-bilstm", input_shape=(1, 8, 8), kernel_size=4)


def test_cli_trains_a_diagonal_bilstm_and_reports_its_exact_nll(tmp_path, capsys):
    out = tmp_path / "run"
    rc, stdout, _ = cli(["train", "diagonal-bilstm", "--data", "digits", "--channels", "4",
                         "--n-layers", "1", "--kernel-size", "3", "--hidden", "8", "--epochs", "1",
                         "--lr", "0.01", "--quiet", "--out", out], capsys)
    assert rc == 0 and "nll_exact" in stdout
    metrics = read_metrics(out)
    assert metrics["nll_exact"] is True
    assert 0 < metrics["nll_nats"] < 64 * math.log(2)  # better than uniform: 44.4 nats
