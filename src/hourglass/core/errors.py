"""Hourglass's own exception types.

Every mistake a user can make (bad data, a bad parameter, a missing dataset, a corrupt file) raises
one of these with a message that names the problem and the fix. The CLI turns them into one line on
stderr and exit status 2.
"""


class HourglassError(ValueError):
    """Base class of every error Hourglass raises on bad input."""


class DataError(HourglassError):
    """Data that cannot be read or used: missing, corrupt, wrong shape, non-finite values."""


class ConfigError(HourglassError):
    """An unknown name or a parameter outside its allowed values."""


class RunError(HourglassError):
    """A run directory that cannot be written, read or trusted."""
