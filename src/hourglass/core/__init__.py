"""The foundation every other layer builds on: errors, parameter constraints, atomic file writes,
the objectives (pure functions, one equation each), priors and input corruptions. Nothing here
imports any other part of Hourglass."""
