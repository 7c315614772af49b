"""What the models are for, as library code: dimensionality reduction compared with the classic
methods (:mod:`~hourglass.uses.compare`), outlier detection (:mod:`~hourglass.uses.detect`) and
debiased training by latent-space resampling (:mod:`~hourglass.uses.debias`)."""
