"""Models: one module per family, each a config dataclass + an nn.Module + a registry entry.

Every module in this package is imported here, so a new model is one new file whose class carries
``@register_model("name")``: nothing else to edit.
"""

import importlib
import pkgutil

from hourglass.models.registry import build, describe_models, get_model_class, list_models, register_model
from hourglass.models.ae import AE, AEConfig
from hourglass.models.vae import VAE, VAEConfig

for _info in pkgutil.iter_modules(__path__):
    if _info.name not in ("registry", "base"):
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["AE", "AEConfig", "VAE", "VAEConfig", "build", "describe_models", "get_model_class",
           "list_models", "register_model"]
