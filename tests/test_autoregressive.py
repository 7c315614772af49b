"""The explicit density models (NADE, PixelCNN plain and gated, Row LSTM): the autoregressive
property, normalization, sampling that matches the density, and what is specific to each."""

import itertools
import math

import numpy as np
import pytest
import torch

from hourglass.core import objectives as O
from hourglass.core.errors import ConfigError, DataError
from hourglass.experiments.likelihood_table import BINARY_MODELS
from hourglass.models import build, get_model_class, list_models
from hourglass.models.autoregressive import AutoregressiveModel
from hourglass.models.rowlstm import RowLSTMLayer
from hourglass.nn.masked import raster_mask, vertical_mask

AR_MODELS = [n for n in list_models() if issubclass(get_model_class(n), AutoregressiveModel)]

# every model and masking option, on images with one and with two channels
VARIANTS = {
    "nade": dict(hidden=(7,)),
    "nade-deep": dict(hidden=(7, 5)),
    "pixelcnn": dict(channels=6, n_layers=2, kernel_size=3, hidden=(6,)),
    "pixelcnn-k5-l5": dict(channels=6, n_layers=2, kernel_size=5, layer_kernel=5, hidden=(6,)),
    "pixelcnn-categorical": dict(channels=6, n_layers=1, hidden=(6,), likelihood="categorical"),
    "gated": dict(channels=6, n_layers=3, kernel_size=3, hidden=(6,), gated=True),
    "gated-k5": dict(channels=6, n_layers=2, kernel_size=5, layer_kernel=5, hidden=(6,),
                     gated=True),
    "gated-categorical": dict(channels=4, n_layers=2, kernel_size=3, hidden=(4,), gated=True,
                              likelihood="categorical"),
    "row-lstm": dict(channels=6, n_layers=2, kernel_size=3, hidden=(6,)),
    "row-lstm-k5": dict(channels=6, n_layers=1, kernel_size=5, row_kernel=5, hidden=(6,)),
    "row-lstm-categorical": dict(channels=4, n_layers=1, hidden=(4,), likelihood="categorical"),
}


def make(variant, shape, seed=0, scale=None, **extra):
    """Build a variant; `scale` redraws every weight from N(0, scale^2) for sharp conditionals."""
    name = "nade" if variant.startswith("nade") else "row-lstm" if variant.startswith("row") \
        else "pixelcnn"
    torch.manual_seed(seed)
    model = build(name, input_shape=shape, **VARIANTS[variant], **extra).eval()
    if scale is not None:
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, scale)
    return model


def all_binary(shape):
    """Every binary array of `shape`, (2^D, *shape)."""
    D = math.prod(shape)
    return torch.tensor(list(itertools.product((0.0, 1.0), repeat=D))).view(-1, *shape)


def dependence(model, shape, seed=0, n=4, positions=None):
    """(D, D) bool matrix: entry (i, j) is True where some logit of position i has a nonzero
    gradient with respect to input j, for any of `n` random inputs (a unit behind a ReLU may be
    off for one input) and a random projection of the K logits; (len(positions), D) for only the
    rows `positions`."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g).requires_grad_(True)
    D = x[0].numel()
    logits = model.logits(x).reshape(n, -1, D)                   # (n, K, D)
    u = torch.randn(logits.shape[1], generator=g)
    rows = []
    for i in range(D) if positions is None else positions:
        grad, = torch.autograd.grad((logits[:, :, i] @ u).sum(), x, retain_graph=True)
        rows.append((grad.flatten(1) != 0).any(0))  # examples are independent: sum, then split
    return torch.stack(rows)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("shape", [(1, 5, 4), (2, 3, 4)], ids=["1ch", "2ch"])
def test_output_i_never_depends_on_inputs_from_i_on(variant, shape):
    # the channels of a pixel at once here; in colour order: tests/test_colour.py
    model = make(variant, shape, **({} if variant.startswith("nade") else {"channel_order": False}))
    dep = dependence(model, shape)
    rank = model.order().flatten()                               # (D,)
    future = rank[None, :] >= rank[:, None]                      # (i, j): j at or after i
    assert int((dep & future).sum()) == 0  # exactly zero gradient: no information from the future
    # and it does use the past: every position after the first rank sees some earlier value, and
    # the last position sees the one just before it
    assert bool(dep[rank > 0].any(1).all())
    last = int(rank.argmax())
    assert bool(dep[last, rank == rank[last] - 1].all())


@pytest.mark.parametrize("name, seen", [("pixelcnn", 129), ("gated-pixelcnn", 144),
                                        ("row-lstm", 670)])
def test_receptive_fields_of_the_likelihood_experiments_models(name, seen):
    # the inputs that the last row's middle pixel (27, 14) of a 28x28 image depends on, in the
    # configurations the likelihood experiments train: all earlier in raster order, and as many
    # as the explicit-density guide quotes (NADE sees all 770 predecessors by construction)
    reg, cfg = BINARY_MODELS[name]
    torch.manual_seed(0)
    model = build(reg, input_shape=(1, 28, 28), **cfg).eval()
    i = 27 * 28 + 14
    (dep,) = dependence(model, (1, 28, 28), n=1, positions=[i])
    assert not dep[i:].any()
    assert int(dep.sum()) == seen


def test_plain_pixelcnn_has_a_blind_spot_the_gated_one_does_not():
    shape = (1, 5, 5)
    past = torch.tril(torch.ones(25, 25, dtype=torch.bool), -1)
    plain = build("pixelcnn", input_shape=shape, channels=8, n_layers=5, kernel_size=3,
                  hidden=(8,))
    gated = build("pixelcnn", input_shape=shape, channels=8, n_layers=5, kernel_size=3,
                  hidden=(8,), gated=True)
    torch.manual_seed(0)
    # pixel (1, 0) cannot see (0, 2..4) through any depth of 3x3 mask-B layers: the blind spot
    dep_plain = dependence(plain, shape)
    assert not dep_plain[5, 2:5].any()
    assert int((past & ~dependence(gated, shape)).sum()) == 0  # the gated stack sees all the past


@pytest.mark.parametrize("variant", [v for v in VARIANTS if "categorical" not in v])
def test_probabilities_of_all_3x3_binary_images_sum_to_one(variant):
    shape = (9,) if variant.startswith("nade") else (1, 3, 3)
    model = make(variant, shape, scale=0.7)
    with torch.no_grad():
        p = model.log_prob(all_binary(shape)).double().exp()
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-5)
    assert float(p.max()) > 5 / 512  # sharp conditionals, far from uniform: the sum means something


@pytest.mark.parametrize("variant", [v for v in VARIANTS if "categorical" in v])
def test_probabilities_of_all_8bit_1x2_images_sum_to_one(variant):
    model = make(variant, (1, 1, 2), scale=0.3)
    levels = torch.cartesian_prod(torch.arange(256), torch.arange(256)).float() / 255
    with torch.no_grad():
        p = torch.cat([model.log_prob(xb.view(-1, 1, 1, 2)) for xb in levels.split(8192)])
    assert float(p.double().exp().sum()) == pytest.approx(1.0, abs=1e-5)


def test_a_leaking_mask_breaks_normalization():
    """The normalization test has teeth: mask B on the first layer lets pixel i see itself."""
    model = make("pixelcnn", (1, 3, 3), scale=0.7)
    model.input.mask.copy_(raster_mask(3, 3, include_center=True))
    with torch.no_grad():
        total = float(model.log_prob(all_binary((1, 3, 3))).double().exp().sum())
    assert abs(total - 1) > 0.01


def assert_layer_equals_paper_form(layer, paper_form, shape):
    """A PixelRNN layer (on (H, W, B, C) maps) against its paper form (on (B, C, H, W)) at a random
    float64 input: the same output to 1e-12 and the same gradients, input and weights, to 1e-10."""
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    expected = paper_form(x)
    got = layer(x.permute(2, 3, 0, 1)).permute(2, 3, 0, 1)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    weights = torch.randn_like(expected)
    grads = torch.autograd.grad((expected * weights).sum(), [x, *layer.parameters()])
    grads_new = torch.autograd.grad((got * weights).sum(), [x, *layer.parameters()])
    for a, b in zip(grads_new, grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("H, W, k, groups", [(5, 4, 3, 1), (3, 7, 5, 1), (4, 4, 3, 3),
                                             (1, 5, 1, 1), (6, 1, 3, 1)])
def test_the_row_lstm_layer_equals_its_convolutions_row_by_row(H, W, k, groups):
    torch.manual_seed(0)
    layer = RowLSTMLayer(6, k, groups=groups).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_(0, 0.7)
    # its product reads the input taps up to the centre: mask B keeps nothing right of it
    mask = layer.input_to_state.mask.expand_as(layer.input_to_state.weight)
    assert layer.taps == list(range(k // 2 + 1)) and not mask[..., k // 2 + 1:].any()
    assert_layer_equals_paper_form(layer, layer.forward_convolutions, (3, 6, H, W))


@pytest.mark.parametrize("variant", ["nade", "nade-deep", "pixelcnn", "gated", "row-lstm"])
def test_sample_frequencies_match_exp_log_prob(variant):
    shape = (4,) if variant.startswith("nade") else (1, 2, 2)
    model = make(variant, shape, scale=0.7)
    n = 20000
    s = model.sample(n, generator=torch.Generator().manual_seed(1), batch_size=8192,
                     progress=False)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    codes = (s.flatten(1) * 2 ** torch.arange(3, -1, -1)).sum(1).long()  # binary number, MSB first
    freq = torch.bincount(codes, minlength=16).double() / n
    with torch.no_grad():
        p = model.log_prob(all_binary(shape)).double().exp()
    assert float((freq - p).abs().max()) < 0.012  # ~6 standard errors at n = 20000


def sample_from_whole_images(model, n, generator):
    """The sampler without row windows: the network on the whole image at every step."""
    shape = model.config.input_shape
    order = model.order().flatten()
    x = torch.zeros(n, model.dim)
    with torch.no_grad():
        for r in torch.unique(order):
            where = (order == r).nonzero().squeeze(1)
            x[:, where] = model._draw(model.logits(x.view(-1, *shape)), where, generator)
    return x.view(-1, *shape)


@pytest.mark.parametrize("variant, shape", [("pixelcnn", (1, 9, 4)), ("gated", (1, 9, 4)),
                                            ("pixelcnn-k5-l5", (2, 8, 3)),
                                            ("gated-categorical", (3, 7, 3)),
                                            ("row-lstm", (1, 6, 4)), ("row-lstm-k5", (2, 5, 4)),
                                            ("row-lstm-categorical", (3, 4, 3)),
                                            ("diagonal-bilstm", (3, 5, 4))])
def test_the_sampler_feeds_the_network_only_the_rows_a_pixel_sees_and_draws_the_same(variant,
                                                                                       shape):
    if variant == "diagonal-bilstm":
        torch.manual_seed(0)
        model = build("diagonal-bilstm", input_shape=shape, channels=4, n_layers=2,
                      hidden=(4,)).eval()
    else:
        model = make(variant, shape, scale=0.5)
    C, H, W = shape
    context = model.context_rows()
    # the windows are real: the PixelCNNs see 1 + layers (kernel 3) or 2 + 2 * 2 rows up
    assert context == {"pixelcnn": 3, "gated": 4, "pixelcnn-k5-l5": 6,
                       "gated-categorical": 3}.get(variant, H - 1)
    x = torch.rand(5, *shape).round() if model.out_channels == 1 else torch.rand(5, *shape)
    order = model.order().flatten()
    with torch.no_grad():
        full = model.logits(x).reshape(5, model.out_channels, -1)
        for r in torch.unique(order).tolist():
            where, rows, where_in_rows = model._sample_step(order, r)
            assert rows.stop == int(where.max()) // W % H + 1                # nothing below
            assert rows.start == max(0, rows.stop - 1 - context)
            window = model.logits(x[:, :, rows]).reshape(5, model.out_channels, -1)
            torch.testing.assert_close(window[:, :, where_in_rows], full[:, :, where],
                                       rtol=1e-5, atol=1e-5)
    drawn = model.sample(6, generator=torch.Generator().manual_seed(3), progress=False)
    assert torch.equal(drawn, sample_from_whole_images(model, 6, torch.Generator().manual_seed(3)))


@pytest.mark.parametrize("variant, shape, extra", [
    ("pixelcnn", (1, 7, 5), {}), ("gated-k5", (2, 6, 5), {}),
    ("pixelcnn-k5-l5", (3, 5, 4), dict(channel_order=False)),
    ("gated-categorical", (3, 4, 3), dict(channel_order=False))])
def test_the_pixelcnn_sampler_computes_each_layer_at_the_drawn_pixel_and_draws_the_same(
        variant, shape, extra, monkeypatch):
    """The cached sampler never runs the network on an image, yet draws what rerunning it on the
    whole image at every step draws, and what the row-window sampler draws."""
    model = make(variant, shape, scale=0.5, **extra)
    whole = sample_from_whole_images(model, 7, torch.Generator().manual_seed(4))
    rows = AutoregressiveModel.sample(model, 7, generator=torch.Generator().manual_seed(4),
                                      batch_size=4, progress=False)   # two batches: 4 + 3

    def no_network_pass(x):
        raise AssertionError("the cached sampler ran the network on an image")
    monkeypatch.setattr(model, "logits", no_network_pass)
    cached = model.sample(7, generator=torch.Generator().manual_seed(4), progress=False)
    assert torch.equal(cached, whole)
    cached = model.sample(7, generator=torch.Generator().manual_seed(4), batch_size=4,
                          progress=False)
    assert torch.equal(cached, rows)
    assert 0 < float(cached.mean()) < 1                      # not all one value


@pytest.mark.parametrize("variant", ["pixelcnn-categorical", "row-lstm-categorical"])
def test_categorical_samples_are_8bit_levels_drawn_from_the_softmax(variant):
    model = make(variant, (1, 1, 1), scale=0.3)
    n = 40000
    s = model.sample(n, generator=torch.Generator().manual_seed(2), batch_size=n, progress=False)
    levels = s.flatten() * 255
    assert torch.equal(levels, levels.round()) and 0 <= float(s.min()) and float(s.max()) <= 1
    freq = torch.bincount(levels.round().long(), minlength=256).double() / n
    with torch.no_grad():
        p = model.log_prob(torch.arange(256).float().view(256, 1, 1, 1) / 255).double().exp()
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-5)
    assert float((freq - p).abs().max()) < 0.005


def test_nade_matches_the_lecture_equation_position_by_position():
    torch.manual_seed(0)
    model = build("nade", input_shape=(6,), hidden=(5,)).eval()
    x = torch.rand(3, 6).round()
    expected = torch.zeros(3)
    for i in range(6):  # $h_i = \sigma(W_{:,<i} x_{<i} + c)$, $p_i = \sigma(V_i h_i + b_i)$
        h = torch.sigmoid(x[:, :i] @ model.W[:, :i].T + model.c)
        p = torch.sigmoid(h @ model.V[i] + model.b[i])
        expected += torch.log(torch.where(x[:, i] == 1, p, 1 - p))
    torch.testing.assert_close(model.log_prob(x), expected)


@pytest.mark.parametrize("name", AR_MODELS)
def test_loss_is_the_mean_exact_nll_and_bits_per_dim(name):
    cls = get_model_class(name)
    torch.manual_seed(0)
    model = build(name, input_shape=(1, 8, 8), **cls.tiny_configs[0]).eval()
    x = torch.rand(5, 1, 8, 8).round()
    terms = model(x)
    nll = -model.log_prob(x, k=7, generator=torch.Generator().manual_seed(0)).mean()
    torch.testing.assert_close(terms["loss"], nll)
    torch.testing.assert_close(terms["bits_per_dim"], nll / (64 * math.log(2)))


def test_categorical_reads_levels_back_from_floats():
    model = make("pixelcnn-categorical", (1, 2, 2))
    levels = torch.tensor([[0, 17, 254, 255]])
    x = (levels.float() / 255).view(1, 1, 2, 2)
    expected = O.categorical_log_likelihood(levels.view(1, 1, 2, 2), model.logits(x))
    torch.testing.assert_close(model.log_prob(x), expected)
    with pytest.raises(DataError, match=r"likelihood='categorical' models 8-bit data given as "
                                        r"floats in \[0, 1\].*got values in \[-0\.5, 0\.5\]"):
        model.log_prob(x - 0.5)


def test_categorical_log_likelihood_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 7, 3, 2, generator=g)            # (B, K, ...)
    x = torch.randint(0, 7, (4, 3, 2), generator=g)
    dist = torch.distributions.Categorical(logits=logits.movedim(1, -1))
    torch.testing.assert_close(O.categorical_log_likelihood(x, logits),
                               dist.log_prob(x).flatten(1).sum(1))


def test_masks_keep_exactly_the_past():
    np.testing.assert_array_equal(raster_mask(3, 3, include_center=True),
                                  [[1, 1, 1], [1, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(raster_mask(1, 5, include_center=False), [[1, 1, 0, 0, 0]])
    np.testing.assert_array_equal(vertical_mask(3, include_center_row=False),
                                  [[1, 1, 1], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(vertical_mask(3, include_center_row=True),
                                  [[1, 1, 1], [1, 1, 1], [0, 0, 0]])


def test_config_errors_name_the_problem_and_the_fix():
    with pytest.raises(ConfigError, match=r"The 'kernel_size' parameter of PixelCNN must be odd "
                                          r"\(a masked kernel is centred on its pixel\)\. Got 4"):
        build("pixelcnn", input_shape=(1, 8, 8), kernel_size=4)
    with pytest.raises(ConfigError, match=r"The 'likelihood' parameter of NADE must be a str "
                                          r"among \{'bernoulli'\}\. Got 'categorical' instead\."):
        build("nade", likelihood="categorical")
    with pytest.raises(ConfigError, match=r"RowLSTM models images: it needs input of shape "
                                          r"\(C, H, W\); got input_shape=\(64,\)\. Use nade"):
        build("row-lstm", input_shape=(64,))
    with pytest.raises(ConfigError, match="n must be a positive int. Got 0 instead"):
        build("nade", input_shape=(4,)).sample(0)


def test_gated_pixelcnn_is_pixelcnn_with_gated_true():
    a, b = build("gated-pixelcnn", input_shape=(1, 8, 8)), build("pixelcnn", input_shape=(1, 8, 8),
                                                                  gated=True)
    assert a.config.gated and a.state_dict().keys() == b.state_dict().keys()


def test_cli_trains_evaluates_and_samples_an_explicit_model(tmp_path, capsys):
    from hourglass import runs
    from hourglass.cli.main import main
    from hourglass.data import load
    from hourglass.runs.workflow import eval_inputs
    out = tmp_path / "run"
    rc = main(["train", "pixelcnn", "--data", "digits", "--channels", "8", "--n-layers", "1",
               "--kernel-size", "3", "--hidden", "8", "--epochs", "1", "--quiet", "--out",
               str(out)])
    assert rc == 0 and "nll_exact" in capsys.readouterr().out
    metrics = runs.read_metrics(out)
    assert metrics["nll_exact"] is True and "nll_k" not in metrics and "recon_nll" not in metrics
    # the reported NLL is minus the mean exact log p of the fixed binarization of the test split
    model, config, _ = runs.load_model(out)
    assert config["train"]["binarize"] == "dynamic"
    x = eval_inputs(load("digits").test.x, "dynamic")
    with torch.no_grad():
        nll = float(-model.log_prob(x).mean())
    assert metrics["nll_nats"] == pytest.approx(nll, rel=1e-6)
    assert metrics["bits_per_dim"] == pytest.approx(nll / (64 * math.log(2)), rel=1e-6)
    assert (out / "figures" / "samples.png").exists()
    assert main(["sample", str(out), "-n", "5", "--npy", str(tmp_path / "s.npy")]) == 0
    s = np.load(tmp_path / "s.npy")
    assert s.shape == (5, 1, 8, 8) and set(np.unique(s)) <= {0.0, 1.0}
    assert main(["embed", str(out), "--data", "digits", "--out", str(tmp_path / "z.npy")]) == 2
    assert "The 'pixelcnn' model has no encoder" in capsys.readouterr().err


def test_cli_categorical_keeps_grey_levels(tmp_path, capsys):
    from hourglass import runs
    from hourglass.cli.main import main
    out = tmp_path / "run"
    rc = main(["train", "row-lstm", "--data", "digits", "--likelihood", "categorical",
               "--channels", "4", "--n-layers", "1", "--hidden", "8", "--epochs", "2",
               "--lr", "0.01", "--quiet", "--out", str(out)])
    assert rc == 0
    config, metrics = runs.read_config(out), runs.read_metrics(out)
    assert config["train"]["binarize"] == "none"  # 8-bit levels are modelled, not binarized
    assert config["model_config"]["likelihood"] == "categorical"
    assert 0 < metrics["bits_per_dim"] < 8  # better than uniform over 256 levels: log2(256) = 8
