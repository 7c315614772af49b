"""Recipes: shipped settings files, named by --config NAME, listed by `hourglass list`."""

import json

import pytest

from cli_helpers import assert_one_error_line, cli
from hourglass.core.errors import ConfigError
from hourglass.runs.config_file import RECIPE_KEYS, list_recipes, read_settings, recipe_path

RECIPES = [r["name"] for r in list_recipes()]


def test_recipes_are_shipped_and_described():
    assert "vae" in RECIPES
    for r in list_recipes():
        assert set(RECIPE_KEYS) <= set(r), r["name"]   # paper, summary, data, budget, reaches
        assert r["model"], r["name"]


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_trains_from_the_cli(name, tmp_path, capsys):
    out = tmp_path / "run"
    rc, _, err = cli(["train", "--config", name, "--data", "digits", "--n", "300",
                      "--epochs", "1", "--quiet", "--no-eval", "--out", out], capsys)
    assert rc == 0, err
    config = json.loads((out / "config.json").read_text())
    settings = read_settings(name).values
    assert config["model"] == settings["model"]
    for key, value in settings.items():  # every setting of the recipe reached the run
        if key in config["model_config"]:
            want = tuple(value) if isinstance(value, list) else value
            got = config["model_config"][key]
            assert (tuple(got) if isinstance(got, list) else got) == want, key
        elif key in config["train"] and key != "epochs":
            assert config["train"][key] == value, key


def test_vae_recipe_settings():
    s = read_settings("vae").values
    assert (s["train_k"], s["lr_schedule"], s["latent_dim"]) == (5, "cosine", 32)


def test_recipe_names_and_bad_recipe_tables(tmp_path, capsys):
    assert recipe_path("vae") == recipe_path("vae.toml") is not None
    assert recipe_path("../vae") is None and recipe_path("nope") is None
    rc, _, err = cli(["train", "--config", "nope", "--data", "digits", "--out", tmp_path / "r"],
                     capsys)
    assert_one_error_line(rc, err, "does not exist", "vae")
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "vae"\n[recipe]\npapr = "x"\n')
    with pytest.raises(ConfigError, match="papr"):
        read_settings(bad)


def test_list_shows_the_recipes(capsys):
    rc, out, _ = cli(["list"], capsys)
    assert rc == 0
    section = out.split("recipes")[1].split("optimizers:")[0]
    for name in RECIPES:
        assert f"  {name} " in section
