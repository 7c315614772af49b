"""The foundation every other layer builds on: errors, parameter constraints, atomic file writes,
the objectives (pure functions, one equation each), priors, input corruptions, the command-line
flag types (:mod:`~hourglass.core.parsing`) and the version. Nothing here imports any other part
of Hourglass."""
