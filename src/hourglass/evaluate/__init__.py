"""Metrics of trained models."""

from .metrics import batched, evaluate_model, knn_accuracy, pca_2d

__all__ = ["batched", "evaluate_model", "knn_accuracy", "pca_2d"]
