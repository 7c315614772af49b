"""Common behaviour of every registered model (parametrized over the registry), and what is
specific to AE and VAE."""

import dataclasses
import math

import pytest
import torch

from hourglass.runs import store
from hourglass.core.errors import ConfigError
from hourglass.models import build, get_model_class, list_models, register_model

SHAPE = (1, 8, 8)
CASES = [(name, cfg) for name in list_models()
         for cfg in getattr(get_model_class(name), "tiny_configs", [{}])]
IDS = [f"{name}-{i}" for name in list_models()
       for i, _ in enumerate(getattr(get_model_class(name), "tiny_configs", [{}]))]


def cases_with(method, *, bernoulli=False):
    """The cases whose model class has `method` (and a Bernoulli likelihood, if asked)."""
    keep = [(i, c) for i, c in enumerate(CASES) if hasattr(get_model_class(c[0]), method)
            and (not bernoulli or c[1].get("likelihood", "bernoulli") == "bernoulli")]
    return dict(argvalues=[c for _, c in keep], ids=[IDS[i] for i, _ in keep])


def make(name, cfg, seed=0):
    torch.manual_seed(seed)
    return build(name, input_shape=SHAPE, **cfg)


def data(seed=0, n=6):
    """Binary 8x8 images and labels 0..9: what every model accepts."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *SHAPE, generator=g).round(), torch.randint(0, 10, (n,), generator=g)


def is_bernoulli(model):
    return getattr(model.config, "likelihood", "bernoulli") == "bernoulli"


@pytest.mark.parametrize("name,cfg", CASES, ids=IDS)
def test_loss_terms_are_finite_scalars(name, cfg):
    model = make(name, cfg)
    x, y = data()
    terms = model(x, y)
    assert "loss" in terms and torch.isfinite(terms["loss"])
    assert all(v.shape == () and torch.isfinite(v) for v in terms.values())


@pytest.mark.parametrize("name,cfg", **cases_with("encode"))
def test_codes_and_decodings_have_the_right_shapes(name, cfg):
    model = make(name, cfg).eval()
    x, _ = data()
    with torch.no_grad():
        z = model.encode(x)
        assert z.shape == (6, model.config.latent_dim)
        x_hat = model.decode(z)
    assert x_hat.shape == x.shape
    if is_bernoulli(model):  # Bernoulli means are probabilities
        assert 0 <= float(x_hat.min()) and float(x_hat.max()) <= 1


@pytest.mark.parametrize("name,cfg", **cases_with("sample"))
def test_samples_have_the_data_shape_and_follow_the_generator(name, cfg):
    model = make(name, cfg).eval()
    a = model.sample(3, generator=torch.Generator().manual_seed(0))
    b = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert a.shape == (3, *SHAPE) and torch.equal(a, b)


@pytest.mark.parametrize("name,cfg", **cases_with("log_prob", bernoulli=True))
def test_log_prob_of_binary_data_is_a_log_probability(name, cfg):
    model = make(name, cfg).eval()
    x, _ = data()
    lp = model.log_prob(x, k=5, generator=torch.Generator().manual_seed(0))
    assert lp.shape == (6,) and bool(torch.isfinite(lp).all()) and float(lp.detach().max()) <= 0


@pytest.mark.parametrize("name,cfg", CASES, ids=IDS)
def test_gradients_reach_every_parameter(name, cfg):
    model = make(name, cfg)
    model(*data())["loss"].backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, pname


@pytest.mark.parametrize("name,cfg", CASES, ids=IDS)
def test_same_seed_same_model(name, cfg):
    a, b, c = make(name, cfg, 0), make(name, cfg, 0), make(name, cfg, 1)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())


@pytest.mark.parametrize("name,cfg", CASES, ids=IDS)
def test_save_load_round_trip(name, cfg, tmp_path):
    model = make(name, cfg).eval()
    store.write_config(tmp_path, model_name=name, model_config=model.config.to_dict())
    store.save_weights(tmp_path, model)
    loaded, config, _ = store.load_model(tmp_path)
    assert config["model"] == name and type(loaded) is type(model)
    x, y = data(1)
    with torch.no_grad():
        torch.manual_seed(0)
        a = model(x, y)
        torch.manual_seed(0)
        b = loaded(x, y)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", list_models())
def test_config_json_round_trip(name):
    cls = get_model_class(name)
    config = cls.config_class(input_shape=(1, 8, 8), hidden=(7, 5))
    assert cls.config_class.from_dict(config.to_dict()) == config


def test_registry_refuses_duplicates_and_names_valid_models():
    with pytest.raises(RuntimeError, match="already registered"):
        register_model("vae")(type("Other", (), {}))
    with pytest.raises(ConfigError, match=r"Unknown model 'vea'\. Valid models: .*vae"):
        build("vea")


def test_config_errors_name_parameter_and_fix():
    with pytest.raises(ConfigError, match=r"The 'arch' parameter of VAE must be a str among "
                                          r"\{'mlp', 'conv'\}. Got 'cnn' instead."):
        build("vae", arch="cnn")
    with pytest.raises(ConfigError, match=r"arch='conv' needs image input"):
        build("ae", input_shape=(64,), arch="conv")
    with pytest.raises(ConfigError, match="Unknown parameter"):
        build("ae", beta=2.0)


def test_ae_loss_is_reconstruction_nll():
    model = make("ae", dict(hidden=(16,))).eval()
    x, _ = data()
    torch.testing.assert_close(model(x)["loss"], -model.reconstruction_log_likelihood(x).mean())


def test_ae_gaussian_fixed_sigma_is_scaled_squared_error():
    torch.manual_seed(0)
    model = build("ae", input_shape=(5,), latent_dim=2, hidden=(8,), likelihood="gaussian",
                  sigma=1.0).eval()
    x = torch.randn(4, 5)
    sse = ((model.reconstruct(x) - x) ** 2).sum(1)
    expected = 0.5 * sse + 0.5 * 5 * math.log(2 * math.pi)
    torch.testing.assert_close(-model.reconstruction_log_likelihood(x), expected)


def test_vae_terms_add_up_and_beta_weights_kl():
    torch.manual_seed(0)
    model = build("vae", input_shape=SHAPE, latent_dim=3, hidden=(16,), beta=4.0)
    torch.manual_seed(1)
    t = model(data()[0])
    torch.testing.assert_close(t["loss"], t["recon"] + 4.0 * t["kl"])


def test_vae_iwae_bound_tightens_with_k():
    torch.manual_seed(0)
    model = build("vae", input_shape=SHAPE, latent_dim=3, hidden=(16,)).eval()
    x, _ = data(n=50)
    g = torch.Generator().manual_seed(0)
    bounds = [float(model.log_prob(x, k=k, generator=g).mean()) for k in (1, 10, 200)]
    assert bounds[0] < bounds[1] < bounds[2]
    # k=1 is the ELBO: its average matches -loss (beta=1) up to Monte-Carlo error
    elbo = float(model.elbo(x, generator=g).mean())
    with torch.no_grad():
        assert elbo == pytest.approx(-float(model(x)["loss"]), rel=0.05)


def test_vae_log_prob_chunking_does_not_change_the_bound():
    torch.manual_seed(0)
    model = build("vae", input_shape=SHAPE, latent_dim=3, hidden=(16,)).eval()
    x, _ = data(n=5)
    # one chunk of 400 samples vs chunks of 7: the same bound up to Monte-Carlo error
    a = model.log_prob(x, k=400, generator=torch.Generator().manual_seed(3))
    b = model.log_prob(x, k=400, generator=torch.Generator().manual_seed(4), max_elements=5 * 64 * 7)
    torch.testing.assert_close(a, b, rtol=0.01, atol=0)


def test_vae_sample_shape_and_range():
    torch.manual_seed(0)
    model = build("vae", input_shape=SHAPE, latent_dim=3, hidden=(16,)).eval()
    s = model.sample(10, generator=torch.Generator().manual_seed(0))
    assert s.shape == (10, *SHAPE) and 0 <= float(s.min()) and float(s.max()) <= 1
    s2 = model.sample(10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(s, s2)


def test_every_model_follows_the_protocol():
    for name in list_models():
        cls = get_model_class(name)
        assert issubclass(cls, torch.nn.Module) and cls.__doc__.strip(), name
        assert "input_shape" in {f.name for f in dataclasses.fields(cls.config_class)}, name
        assert cls.tiny_configs, name
