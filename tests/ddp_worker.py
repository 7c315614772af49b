"""One rank of the distributed tests in test_distributed.py (or the single-process reference).

Usage: ``python tests/ddp_worker.py CASE OUT`` with torchrun's variables (RANK, WORLD_SIZE,
MASTER_ADDR, MASTER_PORT) in the environment, or none of them for the single-process run. Rank 0
(or the single process) writes OUT.safetensors (final weights) and OUT.json (history).
"""

from __future__ import annotations

import json
import sys

import torch
from safetensors.torch import save_file

from hourglass.core.errors import HourglassError
from hourglass.models import build
from hourglass.train import Phase, TrainConfig, train
from hourglass.train.distributed import launch
from hourglass.train.pretrain import pretrain

torch.set_num_threads(1)


class TwoPhase(torch.nn.Module):
    """Phase "a" fits a to the data mean, phase "b" fits b to a (a detached): known optima."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(3))
        self.b = torch.nn.Parameter(torch.zeros(3))

    def loss_a(self, x, y=None):
        return {"loss": ((x[:, :3] - self.a) ** 2).sum(1).mean()}

    def loss_b(self, x, y=None):
        return {"loss": ((self.a.detach() - self.b) ** 2).sum()}

    def phases(self):
        return [Phase("a", [self.a], self.loss_a, {"lr": 0.05}),
                Phase("b", [self.b], self.loss_b, {"name": "sgd", "lr": 0.5})]

    def forward(self, x, y=None):
        return {"loss": self.loss_a(x)["loss"] + self.loss_b(x)["loss"]}


def every_model(out: str, w) -> None:
    """One epoch of every registered model (each tiny config) on 8x8 binary images with labels;
    each rank writes its final weights (DDP must keep the replicas identical) and loss history."""
    from hourglass.models import get_model_class, list_models
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, 8, 8, generator=g).round()
    y = torch.randint(0, 10, (40,), generator=g)
    weights, histories = {}, {}
    for name in list_models():
        for i, cfg in enumerate(getattr(get_model_class(name), "tiny_configs", [{}])):
            torch.manual_seed(0)
            model = build(name, input_shape=(1, 8, 8), **cfg)
            config = TrainConfig(epochs=2, batch_size=16, seed=0, progress=False, device="cpu")
            pretrain(model, x, y=y, config=config)  # greedy stages, for models that have them
            labels = y % 2 if name == "cyclegan" else y  # CycleGAN's y is the domain, 0 or 1
            histories[f"{name}-{i}"] = train(model, x, y=labels, config=config)
            weights.update({f"{name}-{i}.{k}": v.detach().contiguous()
                            for k, v in model.state_dict().items()})
    save_file(weights, f"{out}.rank{w.rank}.safetensors")
    with open(f"{out}.rank{w.rank}.json", "w") as f:
        json.dump(histories, f)


def main(case: str, out: str) -> None:
    if case == "every-model":
        with launch("cpu") as w:
            return every_model(out, w)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(101, 12, generator=g)  # 101 rows, batches of 20: the last one holds 1 row
    val = torch.rand(13, 12, generator=g)
    torch.manual_seed(0)
    if case == "two-phase":
        model = TwoPhase()
    else:  # a deterministic autoencoder with a Gaussian decoder (no sampling anywhere)
        model = build("ae", input_shape=(12,), hidden=(16,), latent_dim=3, likelihood="gaussian")
    config = TrainConfig(epochs=4, batch_size=20, optimizer="adam", lr=0.01, seed=0,
                         progress=False, device="cpu")
    with launch("cpu") as w:
        history = train(model, x, val_x=val, config=config)
        if w.main:
            weights = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
            save_file(weights, out + ".safetensors")
            with open(out + ".json", "w") as f:
                json.dump({"history": history, "world": w.size}, f)


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2])
    except HourglassError as e:  # what the CLI would print
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
