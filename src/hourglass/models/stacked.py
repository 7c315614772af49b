r"""Stacked (denoising) autoencoders with greedy layer-wise pretraining
(Bengio et al. 2007, Vincent et al. 2010).

A deep sigmoid encoder $h_L \circ \dots \circ h_1$, $h_k(a) = \sigma(W_k a + b_k)$, is hard to
train from a random start. Greedy pretraining initializes it one layer at a time:

1. train $h_1$ as a one-layer autoencoder (a DAE when ``corruption_level > 0``) on the data $x$;
2. train $h_k$ the same way on the codes $a_{k-1} = h_{k-1}(\dots h_1(x))$ of the layers below,
   which stay fixed (they only compute the codes);
3. stack the encoders (and, mirrored, the decoders) and fine-tune the whole network end to end:
   a classifier head on the top code with cross-entropy on labels (``finetune='classifier'``, the
   SDAE of Vincent et al. 2010), or the deep autoencoder on reconstruction (``finetune='reconstruction'``).

Pretraining is part of the model protocol: the model lists its greedy stages
(``pretraining_stages``: what to train, on which inputs, where its weights go), and the training
layer runs them with the one loop (:func:`hourglass.train.pretrain.pretrain`) before the main
training. ``pretrain_epochs=0`` skips it: the same network from a random start, the baseline.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from sklearn.utils.metaestimators import available_if
from torch import nn

from hourglass.core.options import option
from hourglass.core.validation import Interval, Options
from hourglass.core.corruption import CORRUPTIONS
from hourglass.core.augment import mixup
from hourglass.core.errors import ConfigError
from hourglass.nn.layers import mlp
from hourglass.models.base import AutoencoderBase, AutoencoderConfig
from hourglass.models.dae import DAE, DAEConfig, check_corruption_level
from hourglass.models.protocol import Stage, When, declare
from hourglass.models.registry import register_model


@dataclass
class SAEConfig(AutoencoderConfig):
    hidden: tuple = option((500, 500), None,
                           "widths of the stacked sigmoid layers below the code")
    latent_dim: int = option(500, Interval(int, 1, None),
                             "width of the top layer (the code the classifier reads)")
    n_classes: int = option(10, Interval(int, 2, None), "outputs of the classifier head")
    finetune: str = option("classifier", Options(("classifier", "reconstruction")),
                           "what fine-tuning minimizes: classifier (labels) or reconstruction")
    recon_weight: float = option(0.0, Interval(float, 0, None),
                                 "classifier fine-tuning: weight of a reconstruction term (0 = none)")
    mixup: float = option(0.0, Interval(float, 0, None),
                          "classifier fine-tuning: mixup alpha (Zhang et al. 2018), pairs of "
                          "inputs and labels mixed with lambda ~ Beta(alpha, alpha); 0: off")
    pretrain_epochs: int = option(10, Interval(int, 0, None),
                                  "greedy pretraining epochs per layer; 0 = random start (baseline)")
    corruption: str = option("masking", Options(tuple(CORRUPTIONS)),
                             "q(x~|x) of each pretrained layer: masking, gaussian, salt-and-pepper")
    corruption_level: float = option(0.25, Interval(float, 0, None),
                                     "0: a stacked AE; > 0: a stacked denoising AE (SDAE)")
    arch: str = option("mlp", Options(("mlp",)),
                       '"mlp" or "conv" (strided conv encoder, transposed-conv decoder)')
    batch_norm: bool = option(False, Options((False,)), "batch norm after each hidden layer")

    def validate(self, owner=None):
        super().validate(owner)
        check_corruption_level(self.corruption, self.corruption_level)
        if self.mixup > 0 and (self.finetune != "classifier" or self.recon_weight > 0):
            raise ConfigError(f"{owner or 'SAE'}: mixup mixes the inputs and labels of the "
                              "classifier; use it with finetune='classifier' and recon_weight=0.")

    def layer_sizes(self) -> list[int]:
        """[D, *hidden, latent_dim]: the widths from the input up to the top code."""
        return [math.prod(self.input_shape), *self.hidden, self.latent_dim]


@register_model("sae")
class SAE(AutoencoderBase):
    """Stacked (denoising) AE: greedy layer-wise pretraining, then classifier or deep-AE fine-tuning."""

    config_class = SAEConfig
    capabilities = declare("encode", "decode", "reconstruct", "pretraining",
                           classify=When("finetune", ("classifier",)),
                           labels=When("finetune", ("classifier",)))
    tiny_configs = [
        dict(hidden=(16,), latent_dim=8, finetune="reconstruction", pretrain_epochs=1),
        dict(hidden=(16, 12), latent_dim=8, recon_weight=0.5, likelihood="gaussian",
             dropout=0.1, corruption="gaussian", corruption_level=0.1),
    ]

    def __init__(self, config: SAEConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)  # validates the config and builds p(x|z)
        c = self.config
        sizes = c.layer_sizes()
        # sigmoid layers throughout, as the one-layer autoencoders that pretrain them
        self.encoder = nn.Sequential(nn.Flatten(),
                                     mlp(sizes, dropout=c.dropout, activation=nn.Sigmoid),
                                     nn.Sigmoid())
        self.decoder = nn.Sequential(mlp(sizes[::-1], activation=nn.Sigmoid),
                                     nn.Unflatten(1, tuple(c.input_shape)))
        # the classifier head on the top code; a deep autoencoder has none
        self.head = nn.Linear(c.latent_dim, c.n_classes) if c.finetune == "classifier" else None

    def layers(self) -> list[tuple[nn.Linear, nn.Linear]]:
        """(encoder, decoder) linear maps of each stacked layer, bottom (next to x) first."""
        enc = [m for m in self.encoder.modules() if isinstance(m, nn.Linear)]
        dec = [m for m in self.decoder.modules() if isinstance(m, nn.Linear)]
        return list(zip(enc, dec[::-1]))

    def encode(self, x):
        """The top code $h_L(\\dots h_1(x))$, shape (B, latent_dim)."""
        return self.encoder(x)

    @available_if(lambda self: self.head is not None)  # a deep autoencoder does not classify
    def classify(self, x):
        """$p(y \\mid x)$ from the classifier head on the top code, shape (B, n_classes)."""
        return torch.softmax(self.head(self.encode(x)), dim=-1)

    def forward(self, x, y=None):
        c = self.config
        if c.finetune == "reconstruction":  # the deep autoencoder
            recon = -self.likelihood.log_prob(x, self.decoder(self.encode(x)))
            return {"loss": recon.mean(), "recon": recon.mean()}
        if y is None:
            raise ConfigError("finetune='classifier' trains on labels, and this data has none. "
                              "Pass labels y, or set finetune='reconstruction'.")
        if c.mixup > 0 and self.training:  # mixup: the mixed input against both labels
            x_mix, partner, lam = mixup(x, c.mixup)
            logits = self.head(self.encode(x_mix))
            xent = (lam * F.cross_entropy(logits, y, reduction="none")
                    + (1 - lam) * F.cross_entropy(logits, y[partner], reduction="none"))
            return {"loss": xent.mean(), "xent": xent.mean(),
                    "error": (logits.argmax(1) != y).float().mean()}
        h = self.encode(x)
        logits = self.head(h)
        xent = F.cross_entropy(logits, y, reduction="none")  # $-\log p(y \mid h_L(x))$
        terms = {"xent": xent.mean(), "error": (logits.argmax(1) != y).float().mean()}
        loss = xent
        if c.recon_weight > 0:
            recon = -self.likelihood.log_prob(x, self.decoder(h))
            loss = loss + c.recon_weight * recon
            terms["recon"] = recon.mean()
        return {"loss": loss.mean(), **terms}

    # ---- greedy layer-wise pretraining ----------------------------------------------------------
    def layer_autoencoder(self, k: int) -> DAE:
        """Layer k as a one-layer sigmoid DAE $a_{k-1} \\to a_k \\to \\hat a_{k-1}$.

        Layer 0 reads the data under the model's likelihood; the layers above reconstruct sigmoid
        codes in (0, 1), hence with a Bernoulli (cross-entropy) decoder.
        """
        c = self.config
        sizes = c.layer_sizes()
        first = k == 0
        return DAE(DAEConfig(input_shape=tuple(c.input_shape) if first else (sizes[k],),
                             latent_dim=sizes[k + 1], hidden=(), code_activation="sigmoid",
                             likelihood=c.likelihood if first else "bernoulli",
                             sigma=c.sigma if first else None,
                             corruption=c.corruption, corruption_level=c.corruption_level))

    @torch.no_grad()
    def install_layer(self, k: int, layer: DAE) -> None:
        """Copy the trained one-layer DAE `k` into the stack: encoder k and the mirrored decoder k
        (and, for the layer next to the data, the likelihood p(x|z))."""
        enc, dec = self.layers()[k]
        enc.load_state_dict(layer.encoder.net[0].state_dict())
        dec.load_state_dict(layer.decoder.net[0].state_dict())
        if k == 0:
            self.likelihood.load_state_dict(layer.likelihood.state_dict())

    def pretraining_stages(self) -> list[Stage]:
        """One stage per layer, bottom first: layer k trains as :meth:`layer_autoencoder` for
        ``pretrain_epochs`` on the data (k = 0) or on the codes $a_{k-1}$ of the trained layers
        below, computed once from the clean inputs; ``pretrain_epochs=0``: no stages."""
        if self.config.pretrain_epochs == 0:
            return []
        return [Stage(f"layer{k}", functools.partial(self.layer_autoencoder, k),
                      functools.partial(self.install_layer, k),
                      epochs=self.config.pretrain_epochs, inputs="data" if k == 0 else "codes")
                for k in range(len(self.layers()))]
