"""Metrics of trained models."""

from hourglass.evaluate.disentanglement import (beta_vae_score, disentanglement_scores, factor_vae_score,
                              image_representation, mig_score, mutual_information_gap)
from hourglass.core.tensors import batched
from hourglass.evaluate.metrics import evaluate_model, knn_accuracy, pca_2d

__all__ = ["batched", "evaluate_model", "knn_accuracy", "pca_2d", "beta_vae_score",
           "factor_vae_score", "mig_score", "mutual_information_gap", "disentanglement_scores",
           "image_representation"]
