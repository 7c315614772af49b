"""The ``hourglass`` command line: :mod:`~hourglass.cli.main` (parser and commands) and
:mod:`~hourglass.cli.uses` (the compare, detect and debias commands)."""
