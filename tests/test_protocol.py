"""The model protocol: every registered model's declared capabilities match its methods, a drifting
declaration is refused at registration, and known answers for a few models."""

import dataclasses
import re

import pytest
import torch
from torch import nn

from hourglass.models import build, get_model_class, list_models, register_model
from hourglass.models.protocol import (CAPABILITIES, PROTOCOL_METHODS, Stage, capabilities,
                                       declare, declared, describe, has, has_log_prob,
                                       uses_labels)
from hourglass.models.registry import ModelConfig
from hourglass.train import TrainConfig
from hourglass.train.pretrain import pretrain


def defines(cls, method) -> bool:
    return callable(getattr(cls, method, None))


@pytest.mark.parametrize("name", list_models())
def test_declared_capabilities_match_the_methods(name):
    cls = get_model_class(name)
    names = declared(cls).names
    assert names <= set(CAPABILITIES)
    for cap in names:
        assert all(defines(cls, m) for m in CAPABILITIES[cap].methods), cap
    for method in PROTOCOL_METHODS:  # no protocol method without its capability
        if defines(cls, method):
            assert names & {c for c, spec in CAPABILITIES.items() if method in spec.methods}
    assert not {"log_prob", "log_prob_bound"} <= names


@pytest.mark.parametrize("name", list_models())
def test_an_instance_has_what_its_config_says(name):
    cls = get_model_class(name)
    for cfg in cls.tiny_configs:
        model = build(name, input_shape=(1, 8, 8), **{"n_classes": 10, **cfg}
                      if "n_classes" in {f.name for f in dataclasses.fields(cls.config_class)}
                      else cfg)
        assert capabilities(model) == capabilities(cls, model.config)
        assert capabilities(model) <= declared(cls).names


@dataclasses.dataclass
class TinyConfig(ModelConfig):
    input_shape: tuple = (4,)


class Tiny(nn.Module):
    config_class = TinyConfig
    capabilities = declare("decode")

    def __init__(self, config=None):
        super().__init__()
        self.config = config or TinyConfig()
        self.net = nn.Linear(4, 4)

    def decode(self, z):
        return self.net(z)

    def forward(self, x, y=None):
        return {"loss": self.net(x).pow(2).mean()}


def test_registration_refuses_a_method_that_is_not_declared():
    class Undeclared(Tiny):
        def encode(self, x):
            return self.net(x)

    with pytest.raises(TypeError, match=re.escape(
            "Model class Undeclared defines encode() but does not declare the 'encode' "
            "capability: add it to Undeclared.capabilities, or remove the method.")):
        register_model("test-undeclared")(Undeclared)
    assert "test-undeclared" not in list_models()


def test_registration_refuses_a_capability_without_its_method():
    class Boasting(Tiny):
        capabilities = declare("decode", "sample")

    with pytest.raises(TypeError, match=re.escape(
            "Model class Boasting declares the 'sample' capability but has no sample() method: "
            "define it, or remove 'sample' from Boasting.capabilities.")):
        register_model("test-boasting")(Boasting)
    assert "test-boasting" not in list_models()


def test_registration_refuses_an_exact_and_a_bounded_log_prob_together():
    class Both(Tiny):
        capabilities = declare("decode", "log_prob", "log_prob_bound")

        def log_prob(self, x, **kw):
            return x.sum(1)

    with pytest.raises(TypeError, match="declares both 'log_prob' \\(exact\\) and "
                                        "'log_prob_bound'"):
        register_model("test-both")(Both)


def test_vae_encodes_decodes_samples_and_bounds_log_prob():
    vae = get_model_class("vae")
    assert {"encode", "decode", "sample", "log_prob_bound", "elbo", "posterior",
            "epoch_schedule"} <= capabilities(vae)
    assert not has(vae, "log_prob") and has_log_prob(vae) and not uses_labels(vae)


def test_nade_has_an_exact_log_prob_and_no_encoder():
    nade = get_model_class("nade")
    assert capabilities(nade) == {"log_prob", "sample"}
    assert has(nade, "log_prob") and not has(nade, "log_prob_bound") and not has(nade, "encode")


def test_gan_only_samples():
    gan = get_model_class("gan")
    assert capabilities(gan) == {"sample", "phases"}
    assert not has_log_prob(gan) and not has(gan, "encode")


def test_aae_uses_labels_in_every_mode_but_the_unsupervised_one():
    aae = get_model_class("aae")
    assert not uses_labels(aae)  # the default config: unsupervised
    assert [uses_labels(aae, {"mode": m}) for m in ("unsupervised", "supervised",
                                                     "semi-supervised", "conditional-prior")] \
        == [False, True, True, True]
    assert uses_labels(build("aae", input_shape=(1, 8, 8), mode="supervised", hidden=(8,),
                             disc_hidden=(4,)))
    assert describe(aae) == "enc dec rec sample phases labels(mode) cond(mode)"


def test_sae_classifies_only_with_its_classifier_head():
    sae = get_model_class("sae")
    assert has(sae, "classify") and uses_labels(sae)
    deep_ae = build("sae", input_shape=(1, 8, 8), hidden=(8,), latent_dim=4,
                    finetune="reconstruction")
    assert not has(deep_ae, "classify") and not uses_labels(deep_ae)
    assert has(deep_ae, "pretraining")


def test_an_unknown_capability_is_named():
    with pytest.raises(ValueError, match="Unknown capability 'encoder'. Valid capabilities: "
                                         "encode, decode"):
        has(get_model_class("ae"), "encoder")


class TwoStages(nn.Module):
    """Greedy stages: a 4 -> 3 layer on the data, then a 3 -> 2 layer on its codes."""

    config_class = TinyConfig
    capabilities = declare("pretraining")

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 3), nn.Linear(3, 2)])
        self.config = TinyConfig()
        self.seen = []

    def stage_network(self, k):
        net = nn.Module()
        net.enc = nn.Linear(4 - k, 3 - k)
        net.encode = lambda a: net.enc(a)
        owner = self

        def forward(x, y=None):
            owner.seen.append((k, tuple(x.shape)))
            return {"loss": net.enc(x).pow(2).mean()}
        net.forward = forward
        return net

    def install(self, k, net):
        self.layers[k].load_state_dict(net.enc.state_dict())

    def pretraining_stages(self):
        return [Stage(f"layer{k}", lambda k=k: self.stage_network(k),
                      lambda net, k=k: self.install(k, net), epochs=2,
                      inputs="data" if k == 0 else "codes") for k in range(2)]

    def forward(self, x, y=None):
        return {"loss": self.layers[1](self.layers[0](x)).pow(2).mean()}


def test_pretrain_runs_each_stage_on_the_codes_of_the_stage_below():
    model = TwoStages()
    x = torch.rand(10, 4)
    histories = pretrain(model, x, config=TrainConfig(batch_size=5, progress=False, lr=0.1))
    assert [len(h) for h in histories] == [2, 2]
    assert {shape for k, shape in model.seen if k == 1} == {(5, 3)}  # codes of stage 0
    assert pretrain(build("ae", input_shape=(4,), hidden=(3,), latent_dim=2), x,
                    config=TrainConfig(progress=False)) == []
