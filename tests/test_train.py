"""The training loop: it learns, it is reproducible, it resumes exactly, it stops early."""

import contextlib
import json
import math

import pytest
import torch

from hourglass.core.errors import ConfigError, RunError
from hourglass.models import build
from hourglass.train import (OPTIMIZERS, Batches, TrainConfig, list_optimizers, make_optimizer,
                             train)
from hourglass.train.checkpoint import STATE, TENSORS
from hourglass.train.speed import Precision


def digits_uint8(n=400):
    from sklearn.datasets import load_digits
    x = torch.as_tensor(load_digits().data[:n] * 255 / 16).round().to(torch.uint8)
    return x.view(-1, 1, 8, 8)


def small_vae(seed=0, **kw):
    torch.manual_seed(seed)
    return build("vae", input_shape=(1, 8, 8), latent_dim=2, hidden=(32,), **kw)


def cfg(**kw):
    return TrainConfig(**{"epochs": 3, "batch_size": 64, "progress": False, **kw})


def test_overfits_a_small_batch():
    """A loss that decreases steadily on 64 fixed examples: the loop and the gradients work."""
    x = digits_uint8(64)
    model = small_vae()
    h = train(model, x, config=cfg(epochs=150, lr=3e-3))
    losses = [r["train_loss"] for r in h]
    assert losses[-1] < 0.7 * losses[0]
    assert min(losses[-10:]) < min(losses[:10])


def test_same_seed_same_history_and_weights():
    x = digits_uint8()
    runs = []
    for _ in range(2):
        m = small_vae()
        h = train(m, x, config=cfg(binarize="dynamic", seed=5))
        runs.append(([{k: v for k, v in r.items() if k != "time_s"} for r in h], m.state_dict()))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])
    m = small_vae()
    h = train(m, x, config=cfg(binarize="dynamic", seed=6))
    assert h[-1]["train_loss"] != runs[0][0][-1]["train_loss"]


def test_history_rows_have_every_term(tmp_path):
    x = digits_uint8()
    h = train(small_vae(), x, val_x=x[:50], config=cfg(), run_dir=tmp_path)
    assert [r["epoch"] for r in h] == [1, 2, 3]
    assert {"train_loss", "train_recon", "train_kl", "val_loss", "val_recon", "val_kl",
            "time_s"} <= set(h[0])
    for r in h:  # the logged loss is the sum of its terms (beta = 1)
        assert r["train_loss"] == pytest.approx(r["train_recon"] + r["train_kl"], rel=1e-5)
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("epoch,train_loss")


def test_resume_gives_the_same_final_weights(tmp_path):
    """4 epochs straight == 2 epochs, stop, resume to 4: bitwise, with dynamic binarization."""
    x = digits_uint8()
    straight = small_vae()
    h_full = train(straight, x, val_x=x[:50], config=cfg(epochs=4, binarize="dynamic", seed=3))
    first = small_vae()
    train(first, x, val_x=x[:50], config=cfg(epochs=2, binarize="dynamic", seed=3), run_dir=tmp_path)
    resumed = small_vae(seed=99)  # fresh process: different init, all overwritten by the checkpoint
    h_res = train(resumed, x, val_x=x[:50], config=cfg(epochs=4, binarize="dynamic", seed=3),
                  run_dir=tmp_path, resume=True)
    s1, s2 = straight.state_dict(), resumed.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h]  # noqa: E731
    assert strip(h_res) == strip(h_full)


def test_checkpoint_is_safetensors_and_json(tmp_path):
    x = digits_uint8(100)
    train(small_vae(), x, config=cfg(epochs=1), run_dir=tmp_path)
    assert (tmp_path / TENSORS).read_bytes()[8:9] == b"{"  # safetensors: u64 header size, JSON
    state = json.loads((tmp_path / STATE).read_text())
    assert state["epoch"] == 1 and len(state["history"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([TENSORS, STATE, "history.csv"])


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(RunError, match="No checkpoint to resume"):
        train(small_vae(), digits_uint8(50), config=cfg(), run_dir=tmp_path, resume=True)


def test_early_stopping_restores_the_best_epoch():
    x = digits_uint8(300)
    torch.manual_seed(0)  # an AE: its validation loss is deterministic, so it can be re-measured
    model = build("ae", input_shape=(1, 8, 8), latent_dim=2, hidden=(32,))
    h = train(model, x[:40], val_x=x[200:], config=cfg(epochs=300, patience=3, lr=1e-2))
    assert len(h) < 300  # 40 training examples overfit: validation stops improving
    best = min(r["val_loss"] for r in h)
    assert [r["val_loss"] for r in h].index(best) == len(h) - 4  # 3 bad epochs after the best
    from hourglass.train import evaluate_loss
    again = evaluate_loss(model, Batches(x[200:], None, device="cpu", binarize="none"))
    assert again["loss"] == pytest.approx(best, rel=1e-5)


def test_patience_needs_validation_data():
    with pytest.raises(ConfigError, match="needs a validation split"):
        train(small_vae(), digits_uint8(50), config=cfg(patience=2))


@pytest.mark.parametrize("name", list_optimizers())
def test_every_optimizer_learns(name):
    lr = {"sgd": 1e-2, "momentum": 2e-3, "nesterov": 2e-3}.get(name)
    x = digits_uint8(200)
    torch.manual_seed(0)
    model = build("ae", input_shape=(1, 8, 8), latent_dim=4, hidden=(32,))
    h = train(model, x, config=cfg(epochs=5, optimizer=name, lr=lr, batch_size=32))
    assert h[-1]["train_loss"] < h[0]["train_loss"] - 2.0  # nats per example


def test_optimizer_settings_reach_torch():
    p = [torch.nn.Parameter(torch.zeros(2))]
    opt = make_optimizer("nesterov", p, lr=0.1, weight_decay=0.01, momentum=0.5)
    g = opt.param_groups[0]
    assert (type(opt).__name__, g["lr"], g["weight_decay"], g["momentum"], g["nesterov"]) == \
        ("SGD", 0.1, 0.01, 0.5, True)
    with pytest.raises(ConfigError, match="Unknown optimizer 'adamm'. Valid optimizers: sgd"):
        make_optimizer("adamm", p)


def test_grad_clip_bounds_the_update():
    """With SGD (lr 1) and clipping to c, each step moves the parameters by at most c."""
    x = digits_uint8(64)
    model = small_vae()
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    train(model, x, config=cfg(epochs=1, batch_size=64, optimizer="sgd", lr=1.0, grad_clip=0.5))
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert float((after - before).norm()) == pytest.approx(0.5, rel=1e-4)


def test_batches_scale_and_binarize():
    x = torch.tensor([[0, 128, 255]], dtype=torch.uint8)
    b = Batches(x, None, device="cpu", binarize="none")
    torch.testing.assert_close(b.get(slice(None))[0], torch.tensor([[0.0, 128 / 255, 1.0]]))
    t = Batches(x, None, device="cpu", binarize="threshold")
    assert t.get(slice(None))[0].tolist() == [[0.0, 1.0, 1.0]]
    s1 = Batches(x.repeat(1000, 1), None, device="cpu", binarize="static", seed=1)
    s2 = Batches(x.repeat(1000, 1), None, device="cpu", binarize="static", seed=1)
    assert torch.equal(s1.x, s2.x)  # static: the same sample every time
    mean = s1.get(slice(None))[0].mean(0)
    assert mean[0] == 0 and mean[2] == 1 and abs(float(mean[1]) - 128 / 255) < 0.05
    d = Batches(x.repeat(1000, 1), None, device="cpu", binarize="dynamic")
    a, b2 = d.get(slice(None))[0], d.get(slice(None))[0]
    assert set(a.unique().tolist()) <= {0.0, 1.0} and not torch.equal(a, b2)


def test_non_finite_loss_is_reported():
    x = digits_uint8(64)
    model = small_vae()
    with torch.no_grad():
        model.encoder.net[0].weight.fill_(float("nan"))
    with pytest.raises(RunError, match=r"non-finite in epoch 1 \(train_loss"):
        train(model, x, config=cfg(epochs=1))


def test_train_config_errors():
    with pytest.raises(ConfigError, match=r"The 'binarize' parameter of TrainConfig must be a str "
                                          r"among \{'none', 'dynamic', 'static', 'threshold'\}"):
        TrainConfig(binarize="yes").validate()
    with pytest.raises(ConfigError, match="CUDA is not available"):
        TrainConfig(device="cuda").validate() if not torch.cuda.is_available() else \
            (_ for _ in ()).throw(ConfigError("CUDA is not available"))
    with pytest.raises(ConfigError, match="'device' parameter must be"):
        TrainConfig(device="tpu").validate()
    assert math.isfinite(TrainConfig().validate().epochs)


class TwoPhase(torch.nn.Module):
    """Phase "a" fits a to the data mean, phase "b" fits b to a (a detached): known optima."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(1))
        self.b = torch.nn.Parameter(torch.zeros(1))

    def loss_a(self, x, y=None):
        loss = ((x.flatten(1).mean(1) - self.a) ** 2).mean()
        return {"loss": loss}

    def loss_b(self, x, y=None):
        loss = ((self.a.detach() - self.b) ** 2).sum()
        return {"loss": loss, "gap": (self.a - self.b).abs().sum().detach()}

    def phases(self):
        from hourglass.train import Phase
        return [Phase("a", [self.a], self.loss_a, {"lr": 0.05}),
                Phase("b", [self.b], self.loss_b, {"name": "sgd", "lr": 0.5})]

    def forward(self, x, y=None):
        return {"loss": self.loss_a(x)["loss"] + self.loss_b(x)["loss"]}


def test_phases_step_in_order_with_their_own_optimizers(tmp_path):
    x = torch.full((64, 4), 0.75)
    model = TwoPhase()
    h = train(model, x, config=cfg(epochs=40, batch_size=16), run_dir=tmp_path)
    assert {"train_a_loss", "train_b_loss", "train_b_gap"} <= set(h[-1])
    assert (tmp_path / "history.csv").read_text().startswith("epoch,train_a_loss,train_b_loss")
    assert float(model.a) == pytest.approx(0.75, abs=1e-3)   # Adam, lr 0.05
    assert float(model.b) == pytest.approx(float(model.a), abs=1e-3)  # SGD follows a
    state = json.loads((tmp_path / STATE).read_text())
    assert set(state["optimizers"]) == {"a", "b"}
    assert state["optimizers"]["b"]["param_groups"][0]["lr"] == 0.5


def test_phases_resume_bitwise(tmp_path):
    x = torch.rand(64, 4, generator=torch.Generator().manual_seed(0))
    straight = TwoPhase()
    train(straight, x, config=cfg(epochs=6, batch_size=16))
    part = TwoPhase()
    train(part, x, config=cfg(epochs=3, batch_size=16), run_dir=tmp_path)
    resumed = TwoPhase()
    train(resumed, x, config=cfg(epochs=6, batch_size=16), run_dir=tmp_path, resume=True)
    assert torch.equal(straight.a, resumed.a) and torch.equal(straight.b, resumed.b)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_fused_and_foreach_updates_equal_the_one_parameter_at_a_time_update(name):
    """The default implementation (fused where torch has it, else foreach) takes the same steps as
    the plain loop over parameters, up to float rounding."""
    def run(impl):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
        opt = make_optimizer(name, net.parameters(), lr=0.05, weight_decay=0.01, impl=impl)
        x = torch.randn(32, 6, generator=torch.Generator().manual_seed(1))
        for _ in range(5):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
        return torch.cat([p.detach().flatten() for p in net.parameters()]), opt

    ref, loop_opt = run("loop")
    for impl in ("auto", "foreach"):
        got, opt = run(impl)
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    moved = (ref - run("loop")[0]).abs().max()
    assert moved == 0  # deterministic
    _, auto = run("auto")
    fused = auto.defaults.get("fused") is True
    assert fused == (name in ("sgd", "momentum", "nesterov", "adagrad", "adam", "adamw"))


def test_fused_is_refused_where_torch_has_none():
    p = [torch.nn.Parameter(torch.zeros(3))]
    with pytest.raises(ConfigError, match="RMSprop has no fused implementation"):
        make_optimizer("rmsprop", p, impl="fused")


def _tiny_vae():
    torch.manual_seed(0)
    return build("vae", input_shape=(1, 8, 8), latent_dim=2, hidden=(16,))


def test_compiled_and_eager_losses_agree_on_a_fixed_batch(capsys):
    x = torch.rand(256, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    eager = train(_tiny_vae(), x, config=TrainConfig(epochs=1, batch_size=64, progress=False))
    compiled = train(_tiny_vae(), x, config=TrainConfig(epochs=1, batch_size=64, progress=False,
                                                        compile=True))
    assert "not available" not in capsys.readouterr().err
    assert compiled[0]["compile_s"] > 0
    for term in ("train_loss", "train_recon", "train_kl"):
        assert compiled[0][term] == pytest.approx(eager[0][term], rel=1e-4)


def test_compile_takes_a_second_batch_size(monkeypatch, capsys):
    """The second batch size torch.compile sees makes it trace the step with a symbolic batch
    size, which the random factories' generator overloads refuse: the noise of the
    reparameterization must be drawn without ``generator=None``."""
    real = torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn: real(fn, backend="eager"))  # no C++ build
    torch._dynamo.reset()
    x = torch.rand(256, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    for batch_size in (64, 32):
        history = train(_tiny_vae(), x, config=TrainConfig(epochs=1, batch_size=batch_size,
                                                           progress=False, compile=True))
        assert "not available" not in capsys.readouterr().err, batch_size
        assert math.isfinite(history[0]["train_loss"])
    torch._dynamo.reset()


def test_compile_falls_back_to_eager_with_one_line(monkeypatch, capsys):
    def broken(fn):
        def call(*args):
            raise RuntimeError("no C compiler found\ndetails")
        return call
    monkeypatch.setattr(torch, "compile", broken)
    x = torch.rand(128, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    eager = train(_tiny_vae(), x, config=TrainConfig(epochs=1, batch_size=64, progress=False))
    fallback = train(_tiny_vae(), x, config=TrainConfig(epochs=1, batch_size=64, progress=False,
                                                        compile=True))
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["hourglass: torch.compile is not available here (no C compiler found); "
                   "training the 'main' phase without it."]
    assert fallback[0]["train_loss"] == eager[0]["train_loss"]


def test_bf16_autocast_keeps_the_likelihood_and_kl_in_float32():
    model = _tiny_vae()
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.manual_seed(1)
        ref = model(x)
        with pytest.warns(UserWarning, match="bf16 is emulated") if not \
                torch.ops.mkldnn._is_mkldnn_bf16_supported() else contextlib.nullcontext():
            precision = Precision("bf16", torch.device("cpu"))
        with precision.autocast():
            torch.manual_seed(1)
            low = model(x)
    assert all(v.dtype == torch.float32 for v in low.values())
    assert float(low["loss"]) == pytest.approx(float(ref["loss"]), rel=2e-2)
    assert float(low["loss"]) != float(ref["loss"])  # the matrix products did run in bf16


def test_fp16_needs_cuda():
    with pytest.raises(ConfigError, match="precision='fp16' needs a CUDA device"):
        train(_tiny_vae(), torch.rand(8, 1, 8, 8),
              config=TrainConfig(epochs=1, progress=False, precision="fp16", device="cpu"))
