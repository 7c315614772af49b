"""CycleGAN (Zhu et al. 2017) and the unpaired two-domain datasets: the objective against its
closed form, the unpaired partition (no image ever meets its own transform), and a quality floor
on digits-thick."""

import math

import pytest
import torch
from torch import nn

from hourglass.core.errors import ConfigError
from hourglass.data import load
from hourglass.data.unpaired import DOMAIN_A, DOMAIN_B, thicken, unpaired
from hourglass.models import build
from hourglass.models.cyclegan import (
    l1_distance,
    least_squares_fake,
    least_squares_real,
)
from hourglass.models.protocol import capabilities
from hourglass.train import TrainConfig, train


class Affine(nn.Module):
    """A stand-in generator whose sigmoid output is s * x + t exactly (it returns the logit)."""

    def __init__(self, s, t):
        super().__init__()
        self.s, self.t = s, t

    def forward(self, x):
        return torch.logit(self.s * x + self.t)


class Constant(nn.Module):
    """A stand-in discriminator that scores every 2x2 patch `v`."""

    def __init__(self, v):
        super().__init__()
        self.v = v

    def forward(self, x):
        return torch.full((len(x), 1, 2, 2), self.v)


def constructed(lambda_identity=0.0):
    """A CycleGAN with G(x) = x/2 + 1/4, F(x) = x/2, D_B = 0.3, D_A = -0.5 everywhere, and a
    batch of flat images: A rows 0.2, B rows 0.8, in mixed order."""
    model = build("cyclegan", input_shape=(1, 8, 8), filters=4, n_residual=0, hidden=(4,),
                  lambda_identity=lambda_identity)
    model.gen_ab, model.gen_ba = Affine(0.5, 0.25), Affine(0.5, 0.0)
    model.disc_b, model.disc_a = Constant(0.3), Constant(-0.5)
    y = torch.tensor([0, 1, 1, 0, 1])
    x = torch.where((y == DOMAIN_A).view(-1, 1, 1, 1), 0.2, 0.8).expand(5, 1, 8, 8).clone()
    return model, x, y


def test_cycle_loss_equals_its_closed_form_on_a_constructed_example():
    # a = 0.2: G(a) = 0.35, F(G(a)) = 0.175 -> |F(G(a)) - a| = 0.025
    # b = 0.8: F(b) = 0.4,  G(F(b)) = 0.45  -> |G(F(b)) - b| = 0.35
    model, x, y = constructed()
    t = model.gen_loss(x, y)
    assert float(t["cycle_a"]) == pytest.approx(0.025, abs=1e-6)
    assert float(t["cycle_b"]) == pytest.approx(0.35, abs=1e-6)
    # identity: |G(b) - b| = |0.65 - 0.8| = 0.15, |F(a) - a| = |0.1 - 0.2| = 0.1
    assert float(t["identity"]) == pytest.approx(0.25, abs=1e-6)
    # least squares: G wants D_B(G(a)) = 1: (0.3 - 1)^2; F wants D_A(F(b)) = 1: (-0.5 - 1)^2
    assert float(t["gan_g"]) == pytest.approx(0.49, abs=1e-6)
    assert float(t["gan_f"]) == pytest.approx(2.25, abs=1e-6)
    assert float(t["loss"]) == pytest.approx(0.49 + 2.25 + 10 * (0.025 + 0.35), abs=1e-5)
    # the discriminators' halved objectives: 1/2 [(D(real) - 1)^2 + D(fake)^2]
    d = model.disc_loss(x, y)
    assert float(d["d_b"]) == pytest.approx(0.5 * (0.49 + 0.09), abs=1e-6)
    assert float(d["d_a"]) == pytest.approx(0.5 * (2.25 + 0.25), abs=1e-6)
    # forward sums both players; the identity loss enters with its weight
    f = model(x, y)
    assert float(f["loss"]) == pytest.approx(float(t["loss"]) + float(d["loss"]), abs=1e-5)
    model, x, y = constructed(lambda_identity=5.0)
    assert float(model.gen_loss(x, y)["loss"]) == pytest.approx(
        0.49 + 2.25 + 10 * 0.375 + 5 * 0.25, abs=1e-5)


def test_loss_pieces_are_per_example():
    d = torch.tensor([[[[1.0, 0.0], [3.0, 1.0]]]])                       # one 2x2 patch map
    assert least_squares_real(d).tolist() == [pytest.approx((0 + 1 + 4 + 0) / 4)]
    assert least_squares_fake(d).tolist() == [pytest.approx((1 + 0 + 9 + 1) / 4)]
    x = torch.zeros(2, 1, 2, 2)
    x_hat = torch.tensor([0.5, -1.0]).view(2, 1, 1, 1).expand(2, 1, 2, 2)
    assert l1_distance(x, x_hat).tolist() == [0.5, 1.0]


def test_a_batch_of_one_domain_has_finite_terms():
    torch.manual_seed(0)
    model = build("cyclegan", input_shape=(1, 8, 8), filters=4, n_residual=1, hidden=(4, 8))
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        for y in (torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)):
            terms = model(x, y)
            assert all(torch.isfinite(v) for v in terms.values())
        only_a = model(x, torch.zeros(4, dtype=torch.long))
    assert float(only_a["cycle_b"]) == 0 and float(only_a["gan_f"]) == 0


def test_thicken_is_a_plus_shaped_dilation():
    x = torch.zeros(1, 1, 5, 5, dtype=torch.uint8)
    x[0, 0, 2, 2], x[0, 0, 0, 4] = 200, 7
    t = thicken(x)
    assert t.dtype == torch.uint8
    expected = torch.zeros(5, 5, dtype=torch.uint8)
    expected[2, 1:4], expected[1:4, 2] = 200, 200
    expected[0, 3:5], expected[1, 4] = 7, 7
    assert torch.equal(t[0, 0], expected)


def test_the_unpaired_data_never_hold_an_image_and_its_own_transform():
    base = load("digits")
    u = unpaired(base, "thick")
    for name in ("train", "val", "test"):
        s, b = getattr(u.dataset, name), getattr(base, name)
        src = u.source[name]
        a_src, b_src = set(src[s.y == DOMAIN_A].tolist()), set(src[s.y == DOMAIN_B].tolist())
        # disjoint halves that together are the whole base split, each image used once
        assert a_src.isdisjoint(b_src) and a_src | b_src == set(range(len(b)))
        assert len(src) == len(b) and len(a_src) - len(b_src) in (0, 1)
        # A rows are base images, B rows the transforms of the other half
        assert torch.equal(s.x[s.y == DOMAIN_A], b.x[src[s.y == DOMAIN_A]])
        assert torch.equal(s.x[s.y == DOMAIN_B], thicken(b.x[src[s.y == DOMAIN_B]]))
        # the truth kept aside: T(a) for A rows, the source image for B rows
        truth = u.truth(name)
        assert torch.equal(truth[s.y == DOMAIN_A], thicken(s.x[s.y == DOMAIN_A]))
        assert torch.equal(truth[s.y == DOMAIN_B], b.x[src[s.y == DOMAIN_B]])
    # the registered name is the same data, and y is the domain
    ds = load("digits-thick")
    assert torch.equal(ds.train.x, u.dataset.train.x) and torch.equal(ds.test.y, u.dataset.test.y)
    assert ds.n_classes == 2 and set(ds.train.y.tolist()) == {DOMAIN_A, DOMAIN_B}


def test_config_errors_name_the_problem_and_the_fix():
    with pytest.raises(ConfigError, match=r"input_shape must be \(C, H, W\)"):
        build("cyclegan", input_shape=(64,))
    with pytest.raises(ConfigError, match="'n_downsample' parameter of CycleGAN does not fit "
                                          "8x8 images.*lower n_downsample"):
        build("cyclegan", input_shape=(1, 8, 8), n_downsample=3)
    with pytest.raises(ConfigError, match=r"'hidden' parameter of CycleGAN does not fit 8x8 "
                                          r"images.*at most 2 entries"):
        build("cyclegan", input_shape=(1, 8, 8), hidden=(4, 8, 16))
    model = build("cyclegan", input_shape=(1, 8, 8), filters=4, n_residual=0, hidden=(4,))
    with pytest.raises(ConfigError, match="domain of each row in y .* digits-thick"):
        model(torch.rand(2, 1, 8, 8))
    assert capabilities(model) == {"phases", "labels", "data_check"}


def test_translation_beats_the_identity_map_on_digits_after_short_training():
    """4 epochs on digits-thick: G(a) is closer to the true T(a) than a itself, and F(b) closer
    to the true source than b, on held-out images (mean absolute pixel error)."""
    u = unpaired(load("digits"), "thick")
    ds = u.dataset
    torch.manual_seed(0)
    model = build("cyclegan", input_shape=ds.shape, filters=8, n_residual=1, hidden=(8, 16))
    history = train(model, ds.train.x, y=ds.train.y,
                    config=TrainConfig(epochs=4, batch_size=32, seed=0, progress=False))
    assert all(math.isfinite(v) for row in history for v in row.values())
    model.eval()
    s, truth = ds.test, u.truth("test")
    a, b = s.x[s.y == DOMAIN_A], s.x[s.y == DOMAIN_B]
    with torch.no_grad():
        err_g = float((model.a_to_b(a) - truth[s.y == DOMAIN_A]).abs().mean())
        err_f = float((model.b_to_a(b) - truth[s.y == DOMAIN_B]).abs().mean())
        cycle = float((model.b_to_a(model.a_to_b(a)) - a).abs().mean())
    identity_g = float((a - truth[s.y == DOMAIN_A]).abs().mean())   # about 0.30
    identity_f = float((b - truth[s.y == DOMAIN_B]).abs().mean())
    assert err_g < 0.8 * identity_g and err_f < 0.8 * identity_f
    assert cycle < identity_g


def test_experiment_writes_under_its_name_with_the_papers_identity_weight(tmp_path):
    """The experiment's files carry --name; its default identity weight is lambda_cycle / 2
    (Zhu et al. 2017), and the summary is the mean of its rows."""
    from hourglass.experiments.cyclegan import main
    r = main(["--data", "digits", "--n", "64", "--n-test", "32", "--epochs", "1", "--seeds", "0,1",
              "--filters", "4", "--hidden", "4,8", "--n-residual", "1", "--name", "cg-small",
              "--out", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cg-small.json", "cg-small.md",
                                                         "cg-small.png"]
    assert r["budget"]["lambda_identity"] == 0.5 * r["budget"]["lambda_cycle"] == 5.0
    assert r["summary"][0]["ab_error"] == pytest.approx(
        sum(x["ab_error"] for x in r["rows"]) / 2)
    assert r["summary"][0]["ab_identity"] == r["rows"][0]["ab_identity"]  # a fixed baseline
