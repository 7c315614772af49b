"""One declaration per option: every model option and training option is one dataclass field
declared with `option(default, constraint, help)`, and the validation, the estimators' signatures,
the command line's flags and the documentation's option tables all derive from it."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import hourglass
from hourglass.cli.flags import options_markdown
from hourglass.cli.main import build_parser
from hourglass.core.errors import ConfigError
from hourglass.core.options import constraints, option, options
from hourglass.core.validation import Interval
from hourglass.estimators import AE, GAN, SDAEClassifier, VAE, ModelEstimator
from hourglass.estimators.autoencoders import _AutoencoderEstimator
from hourglass.models import build, get_model_class, list_models, register_model
from hourglass.models.ae import AE as AEModel, AEConfig
from hourglass.models.registry import _MODELS
from hourglass.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
ESTIMATORS = [getattr(hourglass, n) for n in hourglass.__all__
              if isinstance(getattr(hourglass, n), type)
              and issubclass(getattr(hourglass, n), _AutoencoderEstimator)] + [ModelEstimator]


def _flags(parser) -> dict:
    train = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "train")[1]
    return {a.dest: a for a in train._actions}


@pytest.mark.parametrize("name", list_models())
def test_every_model_option_is_declared_with_help_and_constraint(name):
    config_cls = get_model_class(name).config_class
    found = constraints(config_cls)
    for field_name, (f, spec) in options(config_cls).items():
        assert spec.help, f"{name}.{field_name} has no help text"
        assert field_name in found, f"{name}.{field_name} has no constraint"
        assert found[field_name].accepts(f.default), (name, field_name, f.default)


def test_every_training_option_is_declared_with_help():
    for name, (f, spec) in options(TrainConfig).items():
        assert spec.help, name
        c = constraints(TrainConfig).get(name)
        assert name == "device" or c.accepts(f.default), name


@pytest.mark.parametrize("name", list_models())
def test_cli_flags_are_the_model_options_with_their_defaults(name):
    flags = _flags(build_parser(name))
    config_cls = get_model_class(name).config_class
    for field_name, (f, spec) in options(config_cls).items():
        if spec.flag is None:
            assert field_name not in flags or field_name == "input_shape"
            continue
        action = flags[field_name]
        expected = "auto" if field_name == "likelihood" else f.default
        assert action.default == expected, (name, field_name)
        assert spec.help in action.help


def test_cli_training_flags_are_the_training_options():
    flags = _flags(build_parser("ae"))
    for name, (f, spec) in options(TrainConfig).items():
        dest = spec.flag.get("name", name)
        assert dest in flags, name
    assert flags["binarize"].default == "auto"   # resolved against the data by the run
    assert flags["quiet"].default is False       # --quiet: progress=False


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda c: c.__name__)
def test_estimator_signature_is_derived_from_the_declarations(est):
    params = set(inspect.signature(est.__init__).parameters) - {"self"}
    assert params == set(est._params)
    assert set(est().get_params()) == params
    if est is ModelEstimator:
        return
    config_cls = get_model_class(est._model_name).config_class
    model_opts = {n for n, (_, s) in options(config_cls).items() if s.estimator} - set(est._skip)
    train_opts = {n for n, (_, s) in options(TrainConfig).items() if s.estimator} - set(est._skip)
    assert model_opts | train_opts <= params
    for n in model_opts:  # same default as the model, except the data-driven likelihood
        default = inspect.signature(est.__init__).parameters[n].default
        assert default == ("auto" if n == "likelihood" else options(config_cls)[n][0].default)


def test_estimator_docstrings_list_every_parameter():
    for est in ESTIMATORS:
        for name in est._params:
            assert f"\n    {name} : " in est.__doc__, (est.__name__, name)


def test_boolean_option_error_names_a_bool():
    with pytest.raises(ConfigError, match=r"The 'batch_norm' parameter of AE must be a bool "
                                          r"\(True or False\). Got 'yes' instead."):
        build("ae", batch_norm="yes")
    X = np.random.default_rng(0).random((20, 4))
    with pytest.raises(ConfigError, match=r"The 'batch_norm' parameter of VAE must be a bool"):
        VAE(batch_norm="yes", epochs=1).fit(X)


def test_a_subclass_that_only_changes_a_default_keeps_the_parent_constraint():
    # SAEConfig redeclares hidden=(500, 500) without restating Sizes(): still refused when empty
    with pytest.raises(ConfigError, match="The 'hidden' parameter of SAE must be a non-empty tuple"):
        build("sae", hidden=())


def test_adding_a_model_option_is_one_declaration(tmp_path):
    """One new field on a config: validation, the CLI flag and the estimator parameter follow."""

    @dataclass
    class WideAEConfig(AEConfig):
        widen: int = option(3, Interval(int, 1, None), "how many times wider the first layer is")

    @register_model("test-wide-ae")
    class WideAE(AEModel):
        """A test model."""
        config_class = WideAEConfig

    try:
        with pytest.raises(ConfigError, match=r"The 'widen' parameter of WideAE must be an int "
                                              r"in the range \[1, inf\). Got 0 instead."):
            build("test-wide-ae", widen=0)
        flag = _flags(build_parser("test-wide-ae"))["widen"]
        assert flag.option_strings == ["--widen"] and flag.default == 3 and flag.type is int
        assert "how many times wider" in flag.help

        class WideEstimator(AE):
            """A test estimator."""
            _model_name = "test-wide-ae"

        assert WideEstimator().get_params()["widen"] == 3
        assert "widen : int, default=3" in WideEstimator.__doc__
    finally:
        _MODELS.pop("test-wide-ae")


def test_the_docs_option_tables_are_current():
    """docs/options.md is generated from the declarations (`python tools/write_options_doc.py`)."""
    assert (ROOT / "docs" / "options.md").read_text() == options_markdown()


def test_gan_and_sdae_leave_out_what_the_data_or_the_model_decide():
    assert {"binarize", "patience", "likelihood"}.isdisjoint(GAN().get_params())
    assert {"n_classes", "arch", "finetune"}.isdisjoint(SDAEClassifier().get_params())
    assert "momentum" in AE().get_params() and "on_nonfinite" in VAE().get_params()
    assert "seed" not in VAE().get_params()  # random_state instead
