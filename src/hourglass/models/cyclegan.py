r"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation between two domains A and B.

Two generators, $G: A \to B$ and $F: B \to A$, and two discriminators: $D_B$ tells real $b$ from
translations $G(a)$, $D_A$ real $a$ from $F(b)$. No pair $(a, G^\star(a))$ is ever shown; the
translations are tied to their inputs by cycle consistency, $F(G(a)) \approx a$ and
$G(F(b)) \approx b$. The full objective is

$\mathcal L(G, F, D_A, D_B) = \mathcal L_{\text{GAN}}(G, D_B) + \mathcal L_{\text{GAN}}(F, D_A)
+ \lambda\, \mathcal L_{\text{cyc}}(G, F) + \lambda_{\text{id}}\, \mathcal L_{\text{id}}(G, F)$

with the least-squares GAN losses the paper uses (Mao et al. 2017): $D_B$ minimizes
$\tfrac12\big(\mathbb E_b[(D_B(b) - 1)^2] + \mathbb E_a[D_B(G(a))^2]\big)$ (the paper halves the
discriminator's objective), $G$ minimizes $\mathbb E_a[(D_B(G(a)) - 1)^2]$, and the same for $F$
and $D_A$. The cycle loss is

$\mathcal L_{\text{cyc}} = \mathbb E_a \|F(G(a)) - a\|_1 + \mathbb E_b \|G(F(b)) - b\|_1$,

the optional identity loss (used by the paper for paintings, with $\lambda_{\text{id}} =
\lambda / 2$) $\mathcal L_{\text{id}} = \mathbb E_b \|G(b) - b\|_1 + \mathbb E_a \|F(a) - a\|_1$.
The L1 norms are averaged over the pixels, as in the authors' code, so $\lambda = 10$ keeps its
meaning at any image size.

Data: each row of ``x`` is one image of either domain and ``y`` says which (0 for A, 1 for B),
as the unpaired datasets of ``hourglass.data.unpaired`` (``digits-thick``,
``fashion-mnist-thick``) give them. Class labels are refused: on a single-domain dataset such as
``digits`` the model would otherwise learn to translate "class 0" into "every other class". So is
data of a single domain. The training loop checks all the labels once per fit
(:func:`check_domains`; no host sync per step). The loop shuffles the rows, so a batch holds independently drawn images of
both domains; each term is a mean over the rows of its domain. Per batch the
generators take one step on their objective, then the discriminators one step on theirs (on the
translations, detached), as in the authors' code. The networks are the paper's, scaled down for
8x8 and 28x28 images: a ResNet generator (Johnson et al. 2016; reflection padding, instance norm)
and a PatchGAN discriminator (Isola et al. 2017). Outputs go through a sigmoid, as the data are
scaled to [0, 1] (the paper: tanh on [-1, 1]). Adam with lr 2e-4 and $\beta_1 = 0.5$. Left out:
the history of 50 past translations the paper's discriminators also see, and its linear decay
of the learning rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hourglass.core.errors import ConfigError, DataError
from hourglass.core.options import option
from hourglass.core.validation import Interval, Sizes
from hourglass.models.protocol import Phase, declare
from hourglass.models.registry import ModelConfig, register_model
from hourglass.nn.layers import max_conv_layers

DOMAIN_A, DOMAIN_B = 0, 1  # y of a domain-A row, of a domain-B row
TWO_DOMAIN_DATA = "digits-thick or fashion-mnist-thick"


def _labels_text(values: torch.Tensor) -> str:
    """Sorted distinct labels in short: ``0..9`` for a run of integers, else a list."""
    v = values.tolist()
    whole = all(float(u).is_integer() for u in v)
    if whole and len(v) > 2 and v == list(range(int(v[0]), int(v[-1]) + 1)):
        return f"{int(v[0])}..{int(v[-1])}"
    shown = [str(int(u)) if whole else f"{u:g}" for u in v[:8]]
    return ", ".join(shown) + (", ..." if len(v) > 8 else "")


def check_domains(y: torch.Tensor | None, *, both: bool = True) -> None:
    """Refuse a `y` that is not a 0/1 domain label (0 = domain A, 1 = domain B) with a message
    that names the fix; with ``both`` (all the training labels), also one that holds only one
    domain. One host sync (``torch.unique``)."""
    if y is None:
        raise ConfigError("CycleGAN needs the domain of each row in y (0 = A, 1 = B): train "
                          f"it on an unpaired dataset such as {TWO_DOMAIN_DATA}.")
    values = torch.unique(torch.as_tensor(y).detach()).cpu()
    if values.numel() == 0:
        return
    if values.is_floating_point() and not bool(torch.isfinite(values).all()):
        raise DataError("CycleGAN trains on two domains: y must hold 0 (domain A) and 1 "
                        "(domain B); got non-finite values.")
    if bool(((values != DOMAIN_A) & (values != DOMAIN_B)).any()):
        raise DataError(f"CycleGAN trains on two domains: y must hold 0 (domain A) and 1 "
                        f"(domain B); got labels {_labels_text(values)}, the classes of a "
                        f"single-domain dataset. Use a two-domain dataset such as "
                        f"{TWO_DOMAIN_DATA}, or give y = 0 for the images of one domain and 1 "
                        f"for those of the other.")
    if both and values.numel() < 2:
        present = "A" if int(values[0]) == DOMAIN_A else "B"
        raise DataError(f"CycleGAN trains on two domains: y must hold 0 (domain A) and 1 "
                        f"(domain B); every row is of domain {present} (y = {int(values[0])}). "
                        f"Add the images of the other domain, or use a two-domain dataset such "
                        f"as {TWO_DOMAIN_DATA}.")


# ---- the losses ------------------------------------------------------------------------------

def least_squares_real(d: torch.Tensor) -> torch.Tensor:
    r"""$(D(x) - 1)^2$, averaged over the patches of D's output map, per example: the
    least-squares GAN loss of calling $x$ real (Mao et al. 2017). (B, ...) -> (B,)."""
    return (d - 1).pow(2).flatten(1).mean(1)


def least_squares_fake(d: torch.Tensor) -> torch.Tensor:
    r"""$D(x)^2$, averaged over the patches, per example: the least-squares loss of calling $x$
    fake. (B, ...) -> (B,)."""
    return d.pow(2).flatten(1).mean(1)


def l1_distance(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    r"""$\frac1D \|\hat x - x\|_1$ per example, $D$ the number of values: the cycle loss's term
    with $\hat x = F(G(a))$ (or $G(F(b))$), the identity loss's with $\hat x = G(b)$ (or
    $F(a)$). (B, ...) -> (B,)."""
    return (x_hat - x).abs().flatten(1).mean(1)


def domain_mean(values: torch.Tensor, in_domain: torch.Tensor) -> torch.Tensor:
    r"""The mean over the rows of one domain, $\sum_i m_i v_i / \max(1, \sum_i m_i)$ with $m$ the
    0/1 membership (0 when the batch holds no row of the domain)."""
    return (values * in_domain).sum() / in_domain.sum().clamp(min=1)


# ---- the networks ----------------------------------------------------------------------------

def _norm(c: int) -> nn.Module:
    return nn.InstanceNorm2d(c)  # no affine parameters, no running statistics (authors' code)


class ResidualBlock(nn.Module):
    """$x + \\mathrm{IN}(\\mathrm{conv}(\\mathrm{ReLU}(\\mathrm{IN}(\\mathrm{conv}(x)))))$, 3x3
    convolutions with reflection padding (He et al. 2016, as in Johnson et al. 2016)."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=False), _norm(c), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=False), _norm(c))

    def forward(self, x):
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """The CycleGAN generator (Johnson et al. 2016): c7s1-f, `n_down` stride-2 convolutions
    (doubling the channels), `n_res` residual blocks, `n_down` stride-2 transposed convolutions,
    c7s1-C. ``(B, C, H, W) -> (B, C, H, W)`` logits (biases only where no norm follows)."""

    def __init__(self, c_img: int, filters: int, n_down: int, n_res: int):
        super().__init__()
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(c_img, filters, 7, bias=False), _norm(filters),
                  nn.ReLU()]
        c = filters
        for _ in range(n_down):
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=False), _norm(2 * c),
                       nn.ReLU()]
            c *= 2
        layers += [ResidualBlock(c) for _ in range(n_res)]
        for _ in range(n_down):
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1,
                                          bias=False), _norm(c // 2), nn.ReLU()]
            c //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, c_img, 7)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al. 2017): 4x4 stride-2 convolutions with LeakyReLU(0.2), instance norm
    after all but the first, then a 3x3 convolution to one logit per patch:
    ``(B, C, H, W) -> (B, 1, H / 2^L, W / 2^L)``."""

    def __init__(self, c_img: int, channels):
        super().__init__()
        layers, c = [], c_img
        for i, c_out in enumerate(channels):
            layers += [nn.Conv2d(c, c_out, 4, stride=2, padding=1, bias=i == 0),
                       *([] if i == 0 else [_norm(c_out)]), nn.LeakyReLU(0.2)]
            c = c_out
        layers.append(nn.Conv2d(c, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


# ---- the model -------------------------------------------------------------------------------

@dataclass
class CycleGANConfig(ModelConfig):
    input_shape: tuple = option((1, 28, 28), Sizes(), "shape of one image (C, H, W)", cli=False,
                                estimator=False)
    filters: int = option(32, Interval(int, 1, None),
                          "channels of the generators' first layer, doubled by each downsampling "
                          "(64 in Zhu et al. 2017)")
    n_downsample: int = option(1, Interval(int, 0, None),
                               "stride-2 convolutions in each generator before the residual "
                               "blocks, mirrored after them (2 in Zhu et al. 2017)")
    n_residual: int = option(3, Interval(int, 0, None),
                             "residual blocks in each generator (6 at 128x128 in Zhu et al. 2017)")
    hidden: tuple = option((32, 64), Sizes(),
                           "channels of the PatchGAN discriminators' hidden stride-2 layers (64, "
                           "128, 256, 512 in Zhu et al. 2017)")
    lambda_cycle: float = option(10.0, Interval(float, 0, None),
                                 "weight lambda of the cycle-consistency loss (10 in Zhu et al. "
                                 "2017)")
    lambda_identity: float = option(0.0, Interval(float, 0, None),
                                    "weight of the identity loss, the L1 distances of G(b) to b "
                                    "and F(a) to a (0 = off; Zhu et al. 2017 use lambda_cycle / 2 "
                                    "for paintings)")

    def validate(self, owner=None):
        super().validate(owner)
        owner = owner or "CycleGAN"
        if len(self.input_shape) != 3:
            raise ConfigError(f"{owner} translates images: input_shape must be (C, H, W); got "
                              f"{tuple(self.input_shape)}. Use image data (digits-thick, "
                              f"fashion-mnist-thick).")
        _, h, w = self.input_shape
        step = 2 ** self.n_downsample
        if h % step or w % step or min(h, w) // step < 2:
            raise ConfigError(f"The 'n_downsample' parameter of {owner} does not fit {h}x{w} "
                              f"images: each of its {self.n_downsample} downsamplings halves H "
                              f"and W exactly, down to at least 2x2; lower n_downsample (0 always "
                              f"fits).")
        fits = max_conv_layers(min(h, w)) - 1  # the last normalized map keeps 2x2 pixels or more
        if len(self.hidden) > max(fits, 1):
            raise ConfigError(f"The 'hidden' parameter of {owner} does not fit {h}x{w} "
                              f"images: its {len(self.hidden)} stride-2 layers would leave "
                              f"less than 2x2 patches; give at most {max(fits, 1)} entries (e.g. "
                              f"{tuple(self.hidden)[:max(fits, 1)]}).")


@register_model("cyclegan")
class CycleGAN(nn.Module):
    """CycleGAN: unpaired translation A <-> B by two generators, two LSGAN critics, cycle loss."""

    config_class = CycleGANConfig
    # y is the domain of each row (no encoder, no likelihood, nothing to sample from noise)
    capabilities = declare("phases", "labels", "data_check")
    optimizer_settings = {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}
    tiny_configs = [dict(filters=4, n_residual=1, hidden=(4, 8)),
                    dict(filters=4, n_downsample=0, n_residual=0, hidden=(4,),
                         lambda_identity=5.0)]

    def __init__(self, config: CycleGANConfig | None = None, **kwargs):
        super().__init__()
        c = config if config is not None else self.config_class(**kwargs)
        c.validate(type(self).__name__)
        self.config = c
        ch = c.input_shape[0]
        self.gen_ab = ResnetGenerator(ch, c.filters, c.n_downsample, c.n_residual)  # G: A -> B
        self.gen_ba = ResnetGenerator(ch, c.filters, c.n_downsample, c.n_residual)  # F: B -> A
        self.disc_a = PatchDiscriminator(ch, c.hidden)  # D_A: real a vs F(b)
        self.disc_b = PatchDiscriminator(ch, c.hidden)  # D_B: real b vs G(a)

    # ---- translation ---------------------------------------------------------------------------

    def a_to_b(self, a: torch.Tensor) -> torch.Tensor:
        """$G(a)$ in [0, 1]: images of domain A translated to B."""
        return torch.sigmoid(self.gen_ab(a))

    def b_to_a(self, b: torch.Tensor) -> torch.Tensor:
        """$F(b)$ in [0, 1]: images of domain B translated to A."""
        return torch.sigmoid(self.gen_ba(b))

    @staticmethod
    def domains(x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """0/1 float masks (B,) of the rows of domain A (y = 0) and of domain B (y = 1); `y`
        itself is checked once per fit, on all the training labels (:meth:`check_data`)."""
        if y is None:
            check_domains(y)
        is_a = (y == DOMAIN_A).to(x.dtype)
        return is_a, 1 - is_a

    def check_data(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        """Refuse class labels and single-domain data: :func:`check_domains` on all the training
        labels, which the training loop calls once per fit (no host sync per step)."""
        check_domains(y)

    # ---- the two players -----------------------------------------------------------------------

    def _generator_terms(self, x, is_a, is_b, fake_b, fake_a) -> dict:
        """G and F on their objective; fake_b = G(x), fake_a = F(x) for every row (a row's
        translation into its own domain is the identity loss's)."""
        c = self.config
        gan_g = domain_mean(least_squares_real(self.disc_b(fake_b)), is_a)     # G(a) vs D_B
        gan_f = domain_mean(least_squares_real(self.disc_a(fake_a)), is_b)     # F(b) vs D_A
        cycle_a = domain_mean(l1_distance(x, self.b_to_a(fake_b)), is_a)      # F(G(a)) vs a
        cycle_b = domain_mean(l1_distance(x, self.a_to_b(fake_a)), is_b)      # G(F(b)) vs b
        identity = (domain_mean(l1_distance(x, fake_b), is_b)                 # G(b) vs b
                    + domain_mean(l1_distance(x, fake_a), is_a))              # F(a) vs a
        loss = (gan_g + gan_f + c.lambda_cycle * (cycle_a + cycle_b)
                + c.lambda_identity * identity)
        return {"loss": loss, "gan_g": gan_g, "gan_f": gan_f, "cycle_a": cycle_a,
                "cycle_b": cycle_b, "identity": identity}

    def _discriminator_terms(self, x, is_a, is_b, fake_b, fake_a) -> dict:
        """D_A and D_B on their halved least-squares objective (translations detached)."""
        fake_b, fake_a = fake_b.detach(), fake_a.detach()
        d_b = 0.5 * (domain_mean(least_squares_real(self.disc_b(x)), is_b)
                     + domain_mean(least_squares_fake(self.disc_b(fake_b)), is_a))
        d_a = 0.5 * (domain_mean(least_squares_real(self.disc_a(x)), is_a)
                     + domain_mean(least_squares_fake(self.disc_a(fake_a)), is_b))
        return {"loss": d_a + d_b, "d_a": d_a, "d_b": d_b}

    def gen_loss(self, x, y=None):
        is_a, is_b = self.domains(x, y)
        return self._generator_terms(x, is_a, is_b, self.a_to_b(x), self.b_to_a(x))

    def disc_loss(self, x, y=None):
        is_a, is_b = self.domains(x, y)
        with torch.no_grad():
            fake_b, fake_a = self.a_to_b(x), self.b_to_a(x)
        return self._discriminator_terms(x, is_a, is_b, fake_b, fake_a)

    def phases(self):
        generators = [*self.gen_ab.parameters(), *self.gen_ba.parameters()]
        discriminators = [*self.disc_a.parameters(), *self.disc_b.parameters()]
        return [Phase("gen", generators, self.gen_loss, dict(self.optimizer_settings)),
                Phase("disc", discriminators, self.disc_loss, dict(self.optimizer_settings))]

    def forward(self, x, y=None):
        """Both players' terms on one batch (for validation and the common tests)."""
        is_a, is_b = self.domains(x, y)
        fake_b, fake_a = self.a_to_b(x), self.b_to_a(x)
        gen = self._generator_terms(x, is_a, is_b, fake_b, fake_a)
        disc = self._discriminator_terms(x, is_a, is_b, fake_b, fake_a)
        return {**gen, **disc, "loss": gen["loss"] + disc["loss"], "gen": gen["loss"],
                "disc": disc["loss"]}
