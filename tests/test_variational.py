"""Tests of the variational family beyond the common model tests: the KL schedules of the VAE
(warm-up, capacity), beta-vae, the CVAE's conditioning and label-free methods, M2's objective and
classifier, the semi-supervised label helpers, evaluation with labels, the CVAE/M2 estimators."""

import json
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.distributions import MultivariateNormal

import hourglass.core.objectives as O
from hourglass import CVAE, M2, ConfigError
from hourglass.data.semisupervised import keep_labels, repeat_labelled
from hourglass.evaluate import evaluate_model
from hourglass.models import build
from hourglass.train import TrainConfig, train

SHAPE = (1, 8, 8)


def tiny(name, seed=0, **kw):
    torch.manual_seed(seed)
    return build(name, input_shape=SHAPE, latent_dim=3, hidden=(16,), **kw)


def patterns(n=200, seed=0, noise=0.05):
    """Binary 8x8 images whose class says which half is on (0: top, 1: bottom), a few pixels
    flipped: the label fixes the picture, so a CVAE must generate the class it is given."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.zeros(n, *SHAPE)
    x[y == 0, :, :4] = 1
    x[y == 1, :, 4:] = 1
    flip = torch.rand(x.shape, generator=g) < noise
    return torch.where(flip, 1 - x, x), y


def quiet(**kw):
    return TrainConfig(progress=False, **kw)


# --------------------------------------------------------------------------------------------
# objectives


def test_kl_per_dim_sums_to_the_kl_and_vanishes_at_the_prior():
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    per_dim = O.kl_normal_std_normal_per_dim(mu, logvar)
    torch.testing.assert_close(per_dim.sum(-1), O.kl_normal_std_normal(mu, logvar))
    at_prior = O.kl_normal_std_normal_per_dim(torch.zeros(2, 3), torch.zeros(2, 3))
    assert float(at_prior.abs().max()) == 0


def test_capacity_kl_is_the_distance_to_the_target():
    torch.testing.assert_close(O.capacity_kl(torch.tensor([1.0, 5.0, 3.0]), 3.0),
                               torch.tensor([2.0, 2.0, 0.0]))


def test_marginal_elbo_is_log_px_at_the_true_posterior_and_below_it_otherwise():
    torch.manual_seed(0)
    log_px_y = torch.randn(5, 4) * 3                       # log p(x|y), exact, (B, K)
    log_p_y = torch.log_softmax(torch.randn(4), 0)         # a prior over 4 labels
    log_px = torch.logsumexp(log_px_y + log_p_y, dim=1)    # log p(x)
    log_post = log_px_y + log_p_y - log_px[:, None]        # log p(y|x)
    torch.testing.assert_close(O.marginal_elbo(log_px_y, log_post, log_p_y), log_px)
    other = torch.log_softmax(torch.randn(5, 4), 1)
    assert bool((O.marginal_elbo(log_px_y, other, log_p_y) < log_px).all())


# --------------------------------------------------------------------------------------------
# VAE schedules and beta-vae


def test_warmup_weight_rises_linearly_and_the_loss_uses_it():
    model = tiny("vae", beta=2.0, warmup_epochs=4)
    assert model.kl_weight == 2.0                           # outside training: the full objective
    weights = []
    for epoch in range(6):
        model.on_epoch_start(epoch)
        weights.append(model.kl_weight)
    assert weights == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    model.on_epoch_start(1)
    t = model(patterns(8)[0])
    torch.testing.assert_close(t["loss"], t["recon"] + 0.5 * t["kl"])
    assert float(t["kl_weight"]) == 0.5


def test_trainer_drives_the_warmup_through_on_epoch_start():
    model = tiny("vae", beta=1.0, warmup_epochs=2)
    history = train(model, patterns(64)[0], config=quiet(epochs=3, batch_size=32))
    assert [row["train_kl_weight"] for row in history] == [0.0, 0.5, 1.0]


def test_capacity_control_pulls_the_kl_towards_a_rising_target():
    model = tiny("vae", beta=3.0, capacity=1000.0, capacity_epochs=4)
    model.on_epoch_start(2)
    assert model.capacity == 500.0
    t = model(patterns(8)[0])
    # every example's KL is far below C = 500, so |KL - C| = C - KL
    torch.testing.assert_close(t["loss"], t["recon"] + 3.0 * (500.0 - t["kl"]))
    assert float(t["capacity"]) == 500.0
    assert tiny("vae", capacity=2.0).capacity == 2.0        # no ramp: C from the start


def test_beta_vae_is_the_vae_with_beta_4_by_default():
    model = tiny("beta-vae")
    assert model.config.beta == 4.0 and isinstance(model, type(tiny("vae")))
    t = model(patterns(8)[0])
    torch.testing.assert_close(t["loss"], t["recon"] + 4.0 * t["kl"])


def test_schedule_parameters_are_validated():
    with pytest.raises(ConfigError, match=r"The 'warmup_epochs' parameter of VAE must be an int "
                                          r"in the range \[0, inf\). Got -1 instead."):
        tiny("vae", warmup_epochs=-1)
    with pytest.raises(ConfigError, match="'capacity' parameter of VAE must be None or a float"):
        tiny("vae", capacity=-1.0)


# --------------------------------------------------------------------------------------------
# CVAE


def test_cvae_label_free_methods_average_over_the_labels():
    model = tiny("cvae", n_classes=3).eval()
    x, _ = patterns(5)
    z = torch.randn(5, 3)
    per_label = lambda f: torch.stack([f(torch.full((5,), c)) for c in range(3)])  # noqa: E731
    with torch.no_grad():
        torch.testing.assert_close(model.decode(z), per_label(lambda y: model.decode(z, y)).mean(0))
        torch.testing.assert_close(model.encode(x), per_label(lambda y: model.encode(x, y)).mean(0))
        rll = per_label(lambda y: model.reconstruction_log_likelihood(x, y))
        torch.testing.assert_close(model.reconstruction_log_likelihood(x),
                                   torch.logsumexp(rll, 0) - math.log(3))


def test_cvae_marginal_log_prob_sums_the_conditional_bounds_over_the_labels():
    model = tiny("cvae", n_classes=2).eval()
    x, _ = patterns(4)
    g = torch.Generator().manual_seed(0)
    cond = torch.stack([model.log_prob(x, torch.full((4,), c), k=2000, generator=g)
                        for c in range(2)])
    marginal = model.log_prob(x, k=2000, generator=g)
    # log p(x) = log sum_y p(y) p(x|y), up to Monte-Carlo error of the two k=2000 estimates
    torch.testing.assert_close(marginal, torch.logsumexp(cond, 0) - math.log(2), rtol=0, atol=0.05)
    assert bool((model.elbo(x, generator=g) <= marginal + 0.05).all())


def test_cvae_sample_decodes_prior_draws_with_the_given_label():
    model = tiny("cvae", n_classes=4).eval()
    s = model.sample(5, y=2, generator=torch.Generator().manual_seed(1))
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(s, model.decode(z, torch.full((5,), 2)))
    with pytest.raises(ConfigError, match=re.escape("sample(n=5, y=...) needs one label per "
                                                    "sample; got 2.")):
        model.sample(5, y=torch.tensor([0, 1]))


def test_cvae_names_bad_or_missing_labels():
    model = tiny("cvae", n_classes=4)
    x, _ = patterns(3)
    bad = re.escape("Labels must lie in 0..3 (n_classes=4); got values in 0..7.")
    with pytest.raises(ConfigError, match=bad):  # checked once per fit, on all the labels
        train(model, x, y=torch.tensor([0, 7, 1]), config=TrainConfig(epochs=1, progress=False))
    with pytest.raises(ConfigError, match=bad):  # and by every method that takes a label
        model.encode(x, torch.tensor([0, 7, 1]))
    with pytest.raises(ConfigError, match="CVAE is trained on labelled data: pass y"):
        model(x)
    with pytest.raises(ConfigError, match="CVAE is trained on labelled data: pass y"):
        train(model, x, config=TrainConfig(epochs=1, progress=False))
    with pytest.raises(ConfigError, match="needs the number of classes: pass n_classes=K"):
        tiny("cvae")


def test_trained_cvae_generates_the_class_it_is_asked_for():
    x, y = patterns(256)
    model = tiny("cvae", n_classes=2)
    train(model, x, y=y, config=quiet(epochs=20, batch_size=16, lr=1e-2))
    model.eval()
    for c, (on, off) in enumerate([(slice(0, 4), slice(4, 8)), (slice(4, 8), slice(0, 4))]):
        s = model.sample(50, y=c, generator=torch.Generator().manual_seed(0))
        assert float(s[:, :, on].mean()) > 0.9 and float(s[:, :, off].mean()) < 0.1


# --------------------------------------------------------------------------------------------
# log_prob against the exact log-likelihood of a linear-Gaussian model
#
# p(z) = N(0, I), p(x|z, y) = N(Wz + b + M_y, sigma^2 I), hence p(x|y) = N(b + M_y, WW^T +
# sigma^2 I) and p(z|x, y) = N(A (x - b - M_y), S) with S = (I + W^T W / sigma^2)^{-1} and
# A = S W^T / sigma^2.
# W has orthogonal columns, so S is diagonal and a VAE's q(z|x) can be the exact posterior. The
# networks keep their one hidden ReLU layer: relu(t) - relu(-t) = t makes them exactly linear.

LG_D, LG_d, LG_SIGMA = 6, 2, 0.5


def linear_gaussian(n_classes=0):
    """W (D, d) with orthogonal columns of norms 2 and 1, b (D,), class offsets M (D, K)."""
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(LG_D, LG_d, generator=g))
    W = Q * torch.tensor([2.0, 1.0])                                   # W^T W = diag(4, 1)
    return W, 0.3 * torch.randn(LG_D, generator=g), torch.randn(LG_D, n_classes, generator=g)


def posterior_variance(W):
    """diag S = sigma^2 / (sigma^2 + |w_j|^2), the exact posterior's variances (d,)."""
    return LG_SIGMA ** 2 / (LG_SIGMA ** 2 + (W ** 2).sum(0))


def set_linear(layer, weight, bias):
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)


def make_linear_gaussian(model, W, b, M, *, shift=0.0, var_scale=1.0):
    """Set a VAE (K = 0) or CVAE with hidden=(2d + K,) to the decoder Wz + b + M y and the encoder
    q(z|x, y) = N(A (x - b - M y) + shift sqrt(S), var_scale S): the exact posterior at shift 0,
    var_scale 1, else off by KL(q || p(z|x, y)) = d/2 (var_scale + shift^2 - 1 - log var_scale)."""
    (D, d), K = W.shape, M.shape[1]
    S = posterior_variance(W)
    A = S[:, None] * W.T / LG_SIGMA ** 2                               # (d, D)
    I, zeros = torch.eye(d), torch.zeros
    # decoder: [z, y] -> [relu(z), relu(-z), y] -> W relu(z) - W relu(-z) + M y + b
    d1, _, d2 = model.decoder.net
    set_linear(d1, torch.block_diag(torch.cat([I, -I]), torch.eye(K)), zeros(2 * d + K))
    set_linear(d2, torch.cat([W, -W, M], 1), b)
    # encoder: [x, y] -> [relu(t), relu(-t), 0], t = A (x - b - M y) + shift sqrt(S) -> (t, log var)
    t_w, t_b = torch.cat([A, -A @ M], 1), -A @ b + shift * S.sqrt()   # (d, D + K), (d,)
    e1, _, e2 = model.encoder.net
    set_linear(e1, torch.cat([t_w, -t_w, zeros(K, D + K)]), torch.cat([t_b, -t_b, zeros(K)]))
    set_linear(e2, torch.cat([torch.cat([I, -I, zeros(d, K)], 1), zeros(d, 2 * d + K)]),
               torch.cat([zeros(d), (var_scale * S).log()]))
    return model.eval()


def linear_gaussian_data(W, b, M, n, seed=1):
    """n draws of (x, y) from the model, y uniform over the K classes (y = None when K = 0)."""
    g = torch.Generator().manual_seed(seed)
    K = M.shape[1]
    y = torch.randint(0, K, (n,), generator=g) if K else None
    x = torch.randn(n, LG_d, generator=g) @ W.T + b + LG_SIGMA * torch.randn(n, LG_D, generator=g)
    return (x, None) if y is None else (x + M[:, y].T, y)


def exact_log_px(W, b, x):
    """log N(x; b, WW^T + sigma^2 I), torch.distributions in float64."""
    cov = (W @ W.T + LG_SIGMA ** 2 * torch.eye(LG_D)).double()
    return MultivariateNormal(b.double(), cov).log_prob(x.double()).float()


def linear_gaussian_vae():
    return build("vae", input_shape=(LG_D,), latent_dim=LG_d, hidden=(2 * LG_d,),
                 likelihood="gaussian", sigma=LG_SIGMA)


def test_vae_log_prob_is_exact_with_the_true_posterior():
    W, b, M = linear_gaussian()
    model = make_linear_gaussian(linear_gaussian_vae(), W, b, M)
    x, _ = linear_gaussian_data(W, b, M, 256)
    log_px = exact_log_px(W, b, x)
    g = torch.Generator().manual_seed(0)
    # every importance weight p(x|z) p(z) / q(z|x) equals p(x): exact for any k and any chunking
    torch.testing.assert_close(model.log_prob(x, k=1, generator=g), log_px, rtol=0, atol=1e-4)
    torch.testing.assert_close(model.elbo(x, generator=g), log_px, rtol=0, atol=1e-4)
    one_sample_chunks = model.log_prob(x, k=20, generator=g, max_elements=x.numel())
    torch.testing.assert_close(one_sample_chunks, log_px, rtol=0, atol=1e-4)


def test_vae_iwae_bound_closes_the_gap_of_a_wrong_posterior():
    W, b, M = linear_gaussian()
    shift, var_scale = 0.3, 1.3                  # q(z|x) off by 0.3 posterior std, 30% too wide
    model = make_linear_gaussian(linear_gaussian_vae(), W, b, M, shift=shift, var_scale=var_scale)
    x, _ = linear_gaussian_data(W, b, M, 1024)
    log_px = exact_log_px(W, b, x)
    kl = LG_d / 2 * (var_scale + shift ** 2 - 1 - math.log(var_scale))  # 0.128 nats
    g = torch.Generator().manual_seed(0)
    gap_1 = log_px - model.log_prob(x, k=1, generator=g)
    gap_1000 = log_px - model.log_prob(x, k=1000, generator=g)
    # L_1 is below log p(x) by KL(q || p(z|x)) on average (measured 0.148, standard error 0.019)
    assert abs(float(gap_1.mean()) - kl) < 0.08
    # L_1000 is within Monte-Carlo error of log p(x) (measured: mean -7e-4, worst row 0.04) ...
    assert abs(float(gap_1000.mean())) < 0.005 and float(gap_1000.abs().max()) < 0.1
    # ... and above L_1
    assert float((gap_1 - gap_1000).mean()) > kl / 2


def test_cvae_log_prob_is_exact_given_the_label_and_sums_the_labels_out_without_it():
    K = 3
    W, b, M = linear_gaussian(n_classes=K)
    model = build("cvae", input_shape=(LG_D,), latent_dim=LG_d, hidden=(2 * LG_d + K,),
                  likelihood="gaussian", sigma=LG_SIGMA, n_classes=K)
    model = make_linear_gaussian(model, W, b, M)
    x, y = linear_gaussian_data(W, b, M, 256)
    log_px_y = torch.stack([exact_log_px(W, b + M[:, c], x) for c in range(K)], 1)  # (B, K)
    g = torch.Generator().manual_seed(0)
    torch.testing.assert_close(model.log_prob(x, y, k=1, generator=g),
                               log_px_y.gather(1, y[:, None])[:, 0], rtol=0, atol=1e-4)
    # log p(x) = log sum_y p(y) p(x|y), p(y) = 1/K
    log_px = torch.logsumexp(log_px_y, 1) - math.log(K)
    torch.testing.assert_close(model.log_prob(x, k=1, generator=g), log_px, rtol=0, atol=1e-4)
    # U(x) with r(y|x) = 1/K and exact L(x, y) is the mean of log p(x|y): below log p(x) by
    # KL(uniform || p(y|x))
    elbo = model.elbo(x, generator=g)
    torch.testing.assert_close(elbo, log_px_y.mean(1), rtol=0, atol=1e-4)
    assert bool((elbo < log_px).all())


# --------------------------------------------------------------------------------------------
# M2


def test_m2_loss_is_the_labelled_and_unlabelled_objective_row_by_row(monkeypatch):
    # z = mu (no sampling noise), so the batched loss can be recomputed one row at a time
    monkeypatch.setattr(O, "reparameterize", lambda mu, logvar, **kw: mu)
    model = tiny("m2", n_classes=3, alpha=2.0)
    x, _ = patterns(6)
    y = torch.tensor([2, -1, 0, -1, -1, 1])
    with torch.no_grad():
        loss = model(x, y)["loss"]

        def L(xi, c):  # ELBO of log p(x, y=c) for one row
            t = model.label_elbo(xi, F.one_hot(torch.tensor([c]), 3).float())
            return t["log_px_z"] - t["kl"] - math.log(3)

        total = 0.0
        for i in range(6):
            xi = x[i:i + 1]
            log_q = torch.log_softmax(model.classifier(xi), -1)[0]
            if y[i] >= 0:
                total += -L(xi, int(y[i])) - 2.0 * log_q[y[i]]
            else:
                total += -sum(log_q[c].exp() * (L(xi, c) - log_q[c]) for c in range(3))
    torch.testing.assert_close(loss, (total / 6).squeeze())


def test_m2_without_labels_is_fully_unlabelled_and_reports_no_classification_loss():
    model = tiny("m2", n_classes=3)
    x, _ = patterns(4)
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(0)
    b = model(x, torch.full((4,), -1))
    assert float(a["ce"].detach()) == 0 and torch.equal(a["loss"], b["loss"])


def test_m2_learns_the_classes_from_a_few_labels():
    x, y = patterns(400)
    y_few = keep_labels(y, 10, seed=0)
    x_rep, y_rep = repeat_labelled(x, y_few, 0.2)
    model = tiny("m2", n_classes=2, alpha=10.0)
    train(model, x_rep, y=y_rep, config=quiet(epochs=10, batch_size=32, lr=1e-2))
    x_test, y_test = patterns(200, seed=1)
    assert float((model.eval().classify(x_test).argmax(1) == y_test).float().mean()) > 0.95


# --------------------------------------------------------------------------------------------
# semi-supervised labels


def test_keep_labels_is_balanced_seeded_and_hides_the_rest():
    y = torch.arange(5).repeat(20)                         # 100 labels, 20 per class
    kept = keep_labels(y, 13, seed=3)
    assert int((kept >= 0).sum()) == 13 and set(kept.unique().tolist()) == {-1, 0, 1, 2, 3, 4}
    assert torch.bincount(kept[kept >= 0]).tolist() == [3, 3, 3, 2, 2]
    assert bool((kept[kept >= 0] == y[kept >= 0]).all())
    assert torch.equal(kept, keep_labels(y, 13, seed=3))
    assert not torch.equal(kept, keep_labels(y, 13, seed=4))
    with pytest.raises(Exception, match=r"Class 0 has 20 labelled examples but 21 were asked for"):
        keep_labels(y, 105)


def test_repeat_labelled_reaches_the_share():
    x = torch.arange(100.0)[:, None]
    y = torch.full((100,), -1)
    y[:4] = torch.tensor([0, 1, 0, 1])
    x2, y2 = repeat_labelled(x, y, 0.25)
    # r = ceil(0.25 * 96 / (0.75 * 4)) = 8 copies of each labelled row
    assert len(x2) == 96 + 32 and int((y2 >= 0).sum()) == 32
    assert torch.equal(x2[:100], x) and torch.equal(x2[100:104], x[:4])
    assert repeat_labelled(x, y, 0.0)[0] is x


# --------------------------------------------------------------------------------------------
# evaluation with labels


def test_evaluate_model_gives_label_models_their_labels():
    model = tiny("m2", n_classes=2).eval()
    x, y = patterns(20)
    metrics = evaluate_model(model, x, y_test=y, k=8, seed=0)
    g = torch.Generator().manual_seed(0)
    expected = -float(model.log_prob(x, y, k=8, generator=g).mean())
    assert metrics["given_labels"] is True
    assert metrics["nll_nats"] == pytest.approx(expected, rel=1e-6)
    assert metrics["accuracy"] == float((model.classify(x).argmax(1) == y).float().mean())


# --------------------------------------------------------------------------------------------
# estimators


@pytest.fixture(scope="module")
def toy():
    x, y = patterns(300)
    return x.flatten(1).numpy().astype(np.float64), (y.numpy() * 4 + 3)   # labels 3 and 7


def test_cvae_estimator_fits_with_labels_and_maps_them(toy, tmp_path):
    X, y = toy
    est = CVAE(latent_dim=2, hidden=(16,), epochs=3, n_importance=4, random_state=0)
    with pytest.raises(ConfigError, match=re.escape("CVAE is trained on labelled data: "
                                                    "call fit(X, y).")):
        est.fit(X)
    est.fit(X, y)
    assert est.classes_.tolist() == [3, 7] and est.model_.n_classes == 2
    assert est.transform(X[:5], y[:5]).shape == (5, 2) and est.sample(3, y=7).shape == (3, 64)
    with pytest.raises(ConfigError, match=re.escape("Unknown label(s) [5]; the classes seen at fit "
                                                    "are [3, 7].")):
        est.sample(2, y=5)
    loaded = CVAE.load(est.save(tmp_path / "cvae"))
    np.testing.assert_array_equal(loaded.classes_, est.classes_)
    np.testing.assert_allclose(loaded.transform(X[:5], y[:5]), est.transform(X[:5], y[:5]))


def test_m2_estimator_is_a_semi_supervised_classifier(toy, tmp_path):
    X, y = toy
    y_few = y.copy()
    y_few[10:] = -1
    est = M2(latent_dim=2, hidden=(16,), epochs=5, alpha=10.0, labelled_share=0.2, lr=3e-3,
             n_importance=4, random_state=0).fit(X, y_few)
    assert est.classes_.tolist() == [3, 7]
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    np.testing.assert_array_equal(est.predict(X), est.classes_[proba.argmax(1)])
    assert est.score(X, y) == float(np.mean(est.predict(X) == y)) > 0.9
    loaded = M2.load(est.save(tmp_path / "m2"))
    np.testing.assert_allclose(loaded.predict_proba(X[:20]), proba[:20], rtol=1e-6)
    with pytest.raises(ConfigError, match="M2 needs labelled rows of at least two classes; got 0"):
        M2(epochs=1).fit(X, np.full(len(X), -1))


# --------------------------------------------------------------------------------------------
# runs: n_classes from the data, --labels, label checks


def test_train_run_of_m2_keeps_a_few_labels_and_reports_accuracy(tmp_path):
    from hourglass.runs import workflow
    config = workflow.train_run(
        "m2", "digits", out=tmp_path / "m2", model_params={"hidden": (16,), "latent_dim": 2,
                                                          "n_classes": None},
        train_config=TrainConfig(epochs=1, progress=False), n=200, k=2, labels=20)
    assert config["model_config"]["n_classes"] == 10 and config["data"]["labels"] == 20
    metrics = json.loads((tmp_path / "m2" / "metrics.json").read_text())
    assert metrics["given_labels"] is True and 0 <= metrics["accuracy"] <= 1
    assert {"class_grid.png", "analogies.png", "traversal.png"} <= {
        p.name for p in (tmp_path / "m2" / "figures").iterdir()}
    with pytest.raises(ConfigError, match="The 'cvae' model is trained with class labels and "
                                          "'swiss-roll' has none"):
        workflow.train_run("cvae", "swiss-roll", out=tmp_path / "c")
    with pytest.raises(ConfigError, match="--labels keeps a few labels for models trained with "
                                          "them"):
        workflow.train_run("vae", "digits", out=tmp_path / "v", labels=10)
