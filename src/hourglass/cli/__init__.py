"""The ``hourglass`` command line: :mod:`~hourglass.cli.main` (the command table, the lazy parser
and the error handling) and one module per command group: :mod:`~hourglass.cli.train`,
:mod:`~hourglass.cli.run_commands` (evaluate, sample, embed), :mod:`~hourglass.cli.runs`,
:mod:`~hourglass.cli.experiment`, :mod:`~hourglass.cli.uses` (compare, detect, debias) and
:mod:`~hourglass.cli.catalog` (list)."""
