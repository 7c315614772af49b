"""Quality floors of the adversarial models on the 8x8 digits: a GAN whose samples collapse onto
a few images, and a semi-supervised AAE that does not learn from 100 labels, must fail here."""

import json

import numpy as np
import torch

from hourglass.data import load
from hourglass.data.semisupervised import keep_labels
from hourglass.models import build
from hourglass.train import TrainConfig, train


def diversity(x) -> float:
    """Mean pairwise Euclidean distance of the rows of `x`, flattened."""
    return float(torch.pdist(x.flatten(1).float()).mean())


def gan_samples(name, epochs, **config):
    ds = load("digits")
    torch.manual_seed(0)
    model = build(name, input_shape=ds.shape, latent_dim=32, **config)
    train(model, ds.train.x, config=TrainConfig(epochs=epochs, batch_size=64, seed=0,
                                                progress=False))
    return ds, model.eval().sample(359, generator=torch.Generator().manual_seed(0))


def test_dcgan_samples_are_not_all_alike():
    """Without batch norm in its discriminator DCGAN collapsed here: its samples' mean pairwise
    distance was 0.2-0.3 of the test images' (0.76 with it, 10 epochs)."""
    ds, s = gan_samples("dcgan", 10, channels=(32, 64))
    ratio = diversity(s) / diversity(ds.test.x)
    print(f"dcgan diversity {ratio:.3f}")
    assert ratio > 0.6


def test_gan_samples_are_not_all_alike():
    ds, s = gan_samples("gan", 20, hidden=(128, 256))
    ratio = diversity(s) / diversity(ds.test.x)
    print(f"gan diversity {ratio:.3f}")
    assert ratio > 0.6


def test_semi_supervised_aae_estimator_learns_from_100_labels():
    """100 labels (10 a class), the rest y = -1, straight into the estimator: it repeats the
    labelled rows itself (labelled_share). Chance is 0.1; the floor is 3x chance."""
    from hourglass import AAE
    ds = load("digits")
    y = keep_labels(ds.train.y, 100, seed=0).numpy()
    aae = AAE(latent_dim=8, hidden=(256,), mode="semi-supervised", epochs=8, batch_size=64,
              binarize="dynamic", random_state=0).fit(ds.train.x, y)
    acc = float(np.mean(aae.predict(ds.test.x) == ds.test.y.numpy()))
    print(f"semi-supervised AAE accuracy {acc:.3f}")
    assert acc > 0.3


def test_cli_trains_a_semi_supervised_aae_from_a_few_labels(tmp_path, capsys):
    from hourglass.cli.main import main
    out = tmp_path / "run"
    rc = main(["train", "aae", "--data", "digits", "--mode", "semi-supervised", "--labels", "100",
               "--latent-dim", "4", "--hidden", "32", "--epochs", "1", "--no-eval",
               "--out", str(out)])
    assert rc == 0
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["labels"] == 100 and config["model_config"]["mode"] == "semi-supervised"
    assert "train_sup_loss" in (out / "history.csv").read_text().splitlines()[0]
    capsys.readouterr()
    rc = main(["train", "aae", "--data", "digits", "--labels", "100", "--epochs", "1",
               "--no-eval", "--out", str(tmp_path / "run2")])
    assert rc != 0 and "uses them with --mode semi-supervised" in capsys.readouterr().err
