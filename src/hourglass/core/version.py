"""The version of Hourglass, recorded in every run's config.json (keep it equal to pyproject.toml's).

It lives here, at the bottom layer, so that any module can read it without importing the top
package ``hourglass`` (which imports the estimators, a high layer)."""

__version__ = "0.1.0"
