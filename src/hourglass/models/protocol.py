"""What a registered model offers the rest of the library: its declared capabilities, its training
phases and its greedy pretraining stages.

Every registered model class declares what it can do, one name per capability::

    capabilities = declare("encode", "decode", "reconstruct", "sample", "log_prob_bound", "elbo")

:data:`CAPABILITIES` lists the names, the methods each one promises and what it means. The
registry checks the declaration against the class when it is registered: every declared capability
has its methods, and a class that defines a protocol method without declaring it is refused, so a
declaration cannot drift from the code. Evaluation, figures, the run workflow, the estimators and
the CLI ask :func:`has` / :func:`capabilities` instead of probing the model's attributes.

A capability that holds only for some configs is declared with :class:`When`, e.g. the adversarial
autoencoder uses labels in every mode but the unsupervised one::

    capabilities = declare("encode", ..., labels=When("mode", ("supervised", ...)))

and is answered from the config (an instance's own, or the one a caller passes with the class).

A model trained in several phases per batch (an adversarial autoencoder: reconstruction,
discriminator, generator) lists them with ``phases() -> list[Phase]``; every other model has one
phase, its ``forward`` loss. A model pretrained greedily (a stacked autoencoder, Bengio et al. 2007)
lists its stages with ``pretraining_stages() -> list[Stage]``, which the training layer runs with
the one loop (:func:`hourglass.train.pretrain.pretrain`) before the main training.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable

import torch

from hourglass.core.errors import ConfigError


@dataclass(frozen=True)
class Capability:
    """One thing a model can do: the methods it promises and what they mean."""

    methods: tuple[str, ...]
    meaning: str


CAPABILITIES: dict[str, Capability] = {
    "encode": Capability(("encode",), "encode(x): a deterministic code of x, (B, latent_dim)"),
    "decode": Capability(("decode",), "decode(z): the mean of p(x|z) for codes z"),
    "reconstruct": Capability(("reconstruct", "reconstruction_log_likelihood"),
                              "reconstruct(x) and log p(x | g(h(x))) at the code of x"),
    "sample": Capability(("sample",), "sample(n, *, generator): draws from the model's p(x)"),
    "log_prob": Capability(("log_prob",), "log_prob(x): the exact log p(x) per example, nats"),
    "log_prob_bound": Capability(("log_prob",), "log_prob(x, k=...): an importance-weighted "
                                 "lower bound L_k <= log p(x) per example, nats"),
    "elbo": Capability(("elbo",), "elbo(x): the one-sample evidence lower bound, nats"),
    "classify": Capability(("classify",), "classify(x): class scores p(y|x) (or logits), (B, K)"),
    "posterior": Capability(("posterior",), "posterior(x): mu and logvar of a Gaussian q(z|x)"),
    "phases": Capability(("phases",), "phases(): several losses and optimizers per batch"),
    "epoch_schedule": Capability(("on_epoch_start",), "on_epoch_start(epoch): values that move "
                                 "over training (KL warm-up, capacity)"),
    "data_check": Capability(("check_data",), "check_data(x, y): refuses training data the model "
                             "cannot learn from, once per fit on all of it, before the first step"),
    "data_init": Capability(("init_from_data",), "init_from_data(x, generator): sets initial "
                            "values from the training data (grey levels in [0, 1] or as "
                            "stored), once per model, at its first fit"),
    "pretraining": Capability(("pretraining_stages",), "pretraining_stages(): greedy stages "
                              "trained before the main training"),
    "labels": Capability((), "forward(x, y) trains on class labels y: the data must have them"),
    "conditional": Capability((), "the likelihood methods take an optional label y and are then "
                              "of p(x | y) (decode(z, y), reconstruct(x, y), ...)"),
}

# short words for `hourglass list`
SHORT = {"encode": "enc", "decode": "dec", "reconstruct": "rec", "sample": "sample",
         "log_prob": "exact-lp", "log_prob_bound": "lp-bound", "elbo": "elbo",
         "classify": "classify", "posterior": "post", "phases": "phases",
         "epoch_schedule": "schedule", "data_check": "checks", "data_init": "data-init", "pretraining": "pretrain", "labels": "labels",
         "conditional": "cond"}

PROTOCOL_METHODS = tuple(dict.fromkeys(m for c in CAPABILITIES.values() for m in c.methods))


@dataclass(frozen=True)
class When:
    """A capability that holds only while the config field `field` takes one of `values`."""

    field: str
    values: tuple

    def holds(self, config) -> bool:
        """Whether it holds under `config`, a config object or a dict of its values."""
        if isinstance(config, Mapping):
            return config[self.field] in self.values
        return getattr(config, self.field) in self.values

    def __str__(self):
        return f"{self.field} in {{{', '.join(map(repr, self.values))}}}"


@dataclass(frozen=True)
class Capabilities:
    """A model class's declaration: the capabilities it has for some config (`names`), and for
    those that depend on the config, the condition (`conditions`)."""

    names: frozenset
    conditions: Mapping = field(default_factory=dict)

    def given(self, config) -> frozenset:
        """The capabilities under `config`."""
        return frozenset(n for n in self.names
                         if n not in self.conditions or self.conditions[n].holds(config))


def declare(*names: str, **conditional: When) -> Capabilities:
    """A model's declaration: capabilities it always has, then those that hold under a condition
    on the config (``labels=When("mode", (...))``)."""
    return Capabilities(frozenset(names) | frozenset(conditional), dict(conditional))


# ---- the check at registration --------------------------------------------------------------

def check_declaration(cls: type) -> None:
    """Refuse a class whose declared capabilities do not match its methods (raises TypeError)."""
    name = cls.__name__
    decl = getattr(cls, "capabilities", None)
    if not isinstance(decl, Capabilities):
        raise TypeError(f"Model class {name} declares no capabilities: set "
                        f"`capabilities = declare(...)` in its body (see "
                        f"hourglass.models.protocol.CAPABILITIES).")
    unknown = sorted(decl.names - set(CAPABILITIES))
    if unknown:
        raise TypeError(f"Model class {name} declares unknown capabilities {unknown}; valid "
                        f"capabilities: {', '.join(CAPABILITIES)}.")
    if {"log_prob", "log_prob_bound"} <= decl.names:
        raise TypeError(f"Model class {name} declares both 'log_prob' (exact) and "
                        f"'log_prob_bound': its log_prob is one or the other.")
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    for cap, when in decl.conditions.items():
        if when.field not in fields:
            raise TypeError(f"Model class {name} makes the {cap!r} capability depend on the "
                            f"config field {when.field!r}, which {cls.config_class.__name__} "
                            f"does not have.")
    for cap in sorted(decl.names):
        for method in CAPABILITIES[cap].methods:
            if not callable(getattr(cls, method, None)):
                raise TypeError(f"Model class {name} declares the {cap!r} capability but has no "
                                f"{method}() method: define it, or remove {cap!r} from "
                                f"{name}.capabilities.")
    for method in PROTOCOL_METHODS:
        if callable(getattr(cls, method, None)):
            caps = [c for c, spec in CAPABILITIES.items() if method in spec.methods]
            if not decl.names & set(caps):
                wanted = " or ".join(repr(c) for c in caps)
                raise TypeError(f"Model class {name} defines {method}() but does not declare the "
                                f"{wanted} capability: add it to {name}.capabilities, or remove "
                                f"the method.")


# ---- what consumers ask ---------------------------------------------------------------------

def declared(model_or_class) -> Capabilities:
    """The declaration of a model (instance or class).

    A module that declares nothing (not a registered model: a network of the user's own handed to
    the trainer) is read from its protocol methods, with ``log_prob`` taken for a bound (nothing
    says it is exact) and neither labels nor conditioning assumed.
    """
    cls = model_or_class if isinstance(model_or_class, type) else type(model_or_class)
    decl = getattr(cls, "capabilities", None)
    if isinstance(decl, Capabilities):
        return decl
    return _inferred(cls)


@functools.cache
def _inferred(cls: type) -> Capabilities:
    found = {c for c, spec in CAPABILITIES.items()
             if spec.methods and all(callable(getattr(cls, m, None)) for m in spec.methods)}
    return Capabilities(frozenset(found - {"log_prob"}))


def capabilities(model_or_class, config=None) -> frozenset:
    """The capabilities of a model: an instance's under its own config; a class's under `config`
    (a config object or dict of values), or under its default config when none is given."""
    decl = declared(model_or_class)
    if not decl.conditions:
        return decl.names
    if not isinstance(model_or_class, type):
        config = model_or_class.config
    elif config is None:
        config = model_or_class.config_class()
    elif isinstance(config, Mapping):  # values given, the defaults for the others
        config = {**model_or_class.config_class().to_dict(), **config}
    return decl.given(config)


def has(model_or_class, capability: str, config=None) -> bool:
    """Whether a model (instance or class, see :func:`capabilities`) has `capability`."""
    if capability not in CAPABILITIES:
        raise ConfigError(f"Unknown capability {capability!r}. Valid capabilities: "
                          f"{', '.join(CAPABILITIES)}.")
    return capability in capabilities(model_or_class, config)


def has_log_prob(model_or_class) -> bool:
    """Whether the model scores log p(x), exactly or by a bound."""
    return bool({"log_prob", "log_prob_bound"} & capabilities(model_or_class))


def uses_labels(model_or_class, config=None) -> bool:
    """Whether training needs class labels (under `config` for a class, see :func:`capabilities`)."""
    return has(model_or_class, "labels", config)


def describe(model_or_class) -> str:
    """The declaration in short words, ``labels(mode)`` for one that depends on the config."""
    decl = declared(model_or_class)
    return " ".join(SHORT[n] + (f"({decl.conditions[n].field})" if n in decl.conditions else "")
                    for n in CAPABILITIES if n in decl.names)


# ---- training phases ------------------------------------------------------------------------

@dataclass
class Phase:
    """One step of a multi-phase model, taken on every batch in the order the model lists them.

    ``loss(x, y)`` returns scalar terms with ``"loss"``, which is minimized over ``parameters`` by
    the phase's own optimizer; ``optimizer`` overrides the run's settings for this phase (e.g.
    ``{"lr": 2e-4, "betas": (0.5, 0.999)}`` for DCGAN; the phase's ``lr`` is a default that an
    explicit run ``lr`` overrides). Terms are logged as ``<name>_<term>``.
    """

    name: str
    parameters: list
    loss: Callable
    optimizer: dict = field(default_factory=dict)


def model_phases(model: torch.nn.Module) -> list[Phase]:
    """The model's phases, or one phase ("main") that minimizes ``forward``'s loss."""
    if has(model, "phases"):
        phases = model.phases()
        names = [p.name for p in phases]
        if len(set(names)) != len(names) or any("." in n for n in names):
            raise ConfigError(f"Phase names must be unique and dot-free; got {names}.")
        return phases
    return [Phase("main", list(model.parameters()), model)]


def epoch_start(model: torch.nn.Module, epoch: int) -> None:
    """Tell a model with an epoch schedule (a KL warm-up, say) that epoch `epoch` (0-based) starts."""
    if has(model, "epoch_schedule"):
        model.on_epoch_start(epoch)


def check_data(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> None:
    """Let a model that declares ``data_check`` refuse its training data, once per fit."""
    if has(model, "data_check"):
        model.check_data(x, y)


def init_from_data(model: torch.nn.Module, x: torch.Tensor, seed: int) -> None:
    """Let a model that declares ``data_init`` set initial values from its training data, before
    the first step (a resumed run then loads its saved values over them)."""
    if has(model, "data_init"):
        model.init_from_data(x, torch.Generator().manual_seed(seed))


# ---- greedy pretraining ---------------------------------------------------------------------

@dataclass
class Stage:
    """One stage of greedy pretraining (Bengio et al. 2007; Vincent et al. 2010).

    ``build()`` makes the network trained in this stage (all its parameters; it is built after
    the stage's seed is set); ``inputs`` says what it trains on: ``"data"``, the training inputs
    (binarized as the run says), or ``"codes"``, the previous stage's ``encode`` of its own inputs,
    computed once with that stage's network frozen. ``install(network)`` copies the trained
    weights into the model. The training layer (:func:`hourglass.train.pretrain.pretrain`) runs
    each stage for ``epochs`` with the run's optimizer settings and no early stopping.
    """

    name: str
    build: Callable[[], torch.nn.Module]
    install: Callable[[torch.nn.Module], None]
    epochs: int
    inputs: str = "data"

    def __post_init__(self):
        if self.inputs not in ("data", "codes"):
            raise ConfigError(f"A pretraining stage trains on 'data' or 'codes'. Got "
                              f"{self.inputs!r} instead.")
