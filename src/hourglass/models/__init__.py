"""Models: one module per family, each a config dataclass + an nn.Module + a registry entry."""

from .registry import build, describe_models, get_model_class, list_models, register_model
from .ae import AE, AEConfig
from .vae import VAE, VAEConfig

__all__ = ["AE", "AEConfig", "VAE", "VAEConfig", "build", "describe_models", "get_model_class",
           "list_models", "register_model"]
