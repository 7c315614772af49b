"""Tests of hourglass.evaluate.embedding (trustworthiness, continuity, geodesic coordinates) and
hourglass.uses.compare / `hourglass compare`: hand-computed values, round trips, the rows of methods
that cannot run, the isolated (peak-memory) path, the files written and the one-line errors."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from hourglass.cli.main import main
from hourglass.experiments.compare import markdown, run_compare
from hourglass.uses.compare import (UMAP_HINT, Options, known_methods, measure, parse_methods,
                                    peak_memory, start_peak_memory)
from hourglass.core.errors import ConfigError, DataError
from hourglass.evaluate.embedding import (continuity, distance_correlation, sheet_coordinates,
                                          swiss_roll_arc_length, trustworthiness)


@pytest.fixture(autouse=True)
def one_thread():
    """OpenMP code (t-SNE, k-NN) slows down many-fold when it spins on a busy machine."""
    with threadpool_limits(1):
        yield


# --------------------------------------------------------------------------------------------
# metrics

# 1-D points with distinct distances; in z the fourth point (x = 7) moved next to the first
X6 = np.array([0, 1, 3, 7, 15, 31.0])[:, None]
Z6 = np.array([0, 1, 3, -0.5, 15, 31.0])[:, None]


def test_trustworthiness_by_hand():
    # k = 1: false neighbours in z are (0 -> 3, rank 3 in x), (3 -> 0, rank 3), (4 -> 2, rank 2):
    # sum of (rank - k) = 2 + 2 + 1 = 5; T = 1 - 2 / (n k (2n - 3k - 1)) * 5 = 1 - 10/48
    assert trustworthiness(X6, Z6, k=1) == pytest.approx(1 - 10 / 48, abs=1e-12)


def test_continuity_by_hand():
    # k = 1: lost neighbours of x, ranked in z: (0 -> 1, rank 2), (3 -> 2, rank 3), (4 -> 3, rank 4):
    # sum of (rank - k) = 1 + 2 + 3 = 6; C = 1 - 2/48 * 6 = 0.75
    assert continuity(X6, Z6, k=1) == pytest.approx(0.75, abs=1e-12)


def test_continuity_is_trustworthiness_with_the_spaces_swapped():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    z = x @ rng.normal(size=(5, 2))
    assert continuity(x, z, k=5) == trustworthiness(z, x, k=5)
    assert continuity(x, z, k=5) != trustworthiness(x, z, k=5)


def test_identity_and_rotation_keep_every_neighbourhood():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 4))
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    for z in (x, 3 * x @ q + 1):
        assert trustworthiness(x, z, k=7) == 1.0 and continuity(x, z, k=7) == 1.0


def test_metric_errors_name_the_fix():
    with pytest.raises(ConfigError, match=r"k must be an int in \[1, n/2\) for n = 6 points. "
                                          r"Got 3 instead"):
        trustworthiness(X6, Z6, k=3)
    with pytest.raises(DataError, match="The input has 6 points but the embedding has 5"):
        continuity(X6, Z6[:5], k=1)


def test_swiss_roll_arc_length_is_the_length_of_the_spiral():
    a, b = 1.5 * math.pi, 4.5 * math.pi       # scikit-learn's range of the roll angle
    t = np.linspace(a, b, 200_001)
    curve = np.stack([t * np.cos(t), t * np.sin(t)], 1)
    polyline = np.linalg.norm(np.diff(curve, axis=0), axis=1).sum()
    assert swiss_roll_arc_length(b) - swiss_roll_arc_length(a) == pytest.approx(polyline, rel=1e-8)
    assert swiss_roll_arc_length(0.0) == 0.0


def test_sheet_coordinates_unroll_only_the_swiss_roll():
    t = np.array([[5.0, 1.0], [6.0, 2.0]])
    np.testing.assert_array_equal(sheet_coordinates("s-curve", t), t)  # unit-speed curve
    sheet = sheet_coordinates("swiss-roll", t)
    np.testing.assert_allclose(sheet[:, 0], swiss_roll_arc_length(t[:, 0]))
    np.testing.assert_array_equal(sheet[:, 1], t[:, 1])


def test_distance_correlation_is_one_for_a_similarity_and_rank_based():
    rng = np.random.default_rng(2)
    t = rng.uniform(size=(40, 2))
    assert distance_correlation(t, 5 * t[:, ::-1] - 2) == pytest.approx(1.0)
    # points 0, 1, 3 embedded at 0, 1, 2: distances (1, 3, 2) and (1, 2, 1), ranks (1, 3, 2) and
    # (1.5, 3, 1.5): Pearson correlation of the ranks = 1.5 / sqrt(2 * 1.5) = sqrt(3) / 2
    assert distance_correlation([[0.0], [1], [3]], [[0.0], [1], [2]]) == pytest.approx(
        math.sqrt(3) / 2)


# --------------------------------------------------------------------------------------------
# compare


@pytest.fixture(scope="module")
def digits_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    with threadpool_limits(1):
        result = run_compare("digits", methods="pca,lda,tsne,umap,ae", n=200, n_eval=60,
                             epochs=2, hidden=(16,), isolate=False, out=out)
    return result, out


def rows(result):
    return {r["method"]: r for r in result["rows"]}


def test_compare_metrics_match_the_saved_embeddings(digits_result):
    result, out = digits_result
    from hourglass.data import load
    ds = load("digits", val_fraction=0.0, seed=0, n=200)
    idx = np.sort(np.random.default_rng(0).permutation(len(ds.test))[:60])
    x_eval = ds.test.x[idx].reshape(60, -1).numpy().astype(np.float64)
    with np.load(out / "embeddings.npz", allow_pickle=False) as f:
        z = {k: f[k] for k in f.files}
    assert sorted(z) == ["ae", "lda", "pca", "tsne"] and z["pca"].shape == (60, 2)
    for name in ("pca", "tsne"):
        assert rows(result)[name]["trustworthiness"] == pytest.approx(
            trustworthiness(x_eval, z[name], k=10), abs=1e-6)
        assert rows(result)[name]["continuity"] == pytest.approx(
            continuity(x_eval, z[name], k=10), abs=1e-6)


def test_compare_rows_say_what_each_method_could_do(digits_result):
    result, _ = digits_result
    r = rows(result)
    assert [row["method"] for row in result["rows"]] == ["pca", "lda", "tsne", "umap", "ae"]
    assert r["tsne"]["out_of_sample"] == "no (fitted with them)"
    assert r["tsne"]["transform_s_per_1k"] is None and "recon_mse" not in r["tsne"]
    assert r["pca"]["out_of_sample"] == "yes" and r["pca"]["recon_mse"] > 0
    assert r["ae"]["recon_mse"] > 0 and "recon_mse" not in r["lda"]
    assert r["lda"]["note"] == "supervised: uses the labels"
    assert r["pca"]["peak_mem_mb"] is None  # in-process: not measured
    assert result["n_fit"] == 200 and result["n_eval"] == 60
    for row in (r["pca"], r["lda"], r["tsne"], r["ae"]):
        assert 0 <= row["knn_accuracy"] <= 1 and 0 < row["trustworthiness"] <= 1


def test_missing_umap_row_says_how_to_install_it(digits_result, monkeypatch):
    result, _ = digits_result
    if "umap" not in sys.modules or sys.modules["umap"] is None:  # the usual case here
        assert rows(result)["umap"] == {"method": "umap", "note": UMAP_HINT,
                                        "wall_s": rows(result)["umap"]["wall_s"]}
    monkeypatch.setitem(sys.modules, "umap", None)  # import umap -> ImportError, installed or not
    again = run_compare("digits", methods="umap", n=50, n_eval=30, isolate=False)
    assert again["rows"][0]["note"] == "not installed: pip install 'hourglass-ae[umap]' (or umap-learn)"


def test_compare_files_hold_the_same_numbers(digits_result):
    result, out = digits_result
    saved = json.loads((out / "compare.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(result["rows"]))
    table = (out / "compare.md").read_text()
    assert table == markdown(result)
    pca_line = next(line for line in table.splitlines() if line.startswith("| pca |"))
    assert f"{rows(result)['pca']['trustworthiness']:.3g}" in pca_line
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_full_rank_pca_keeps_everything_and_lda_refuses_too_many_dims():
    result = run_compare("digits", methods="pca,lda", n=200, n_eval=60, dims=64, isolate=False)
    pca, lda = result["rows"]
    assert pca["trustworthiness"] == 1.0 and pca["continuity"] == 1.0
    assert pca["recon_mse"] < 1e-25  # a rotation: inverse_transform(transform(x)) == x
    assert lda["note"] == "LDA gives at most n_classes - 1 = 9 dimensions"


def test_swiss_roll_coordinates_are_scored():
    result = run_compare("swiss-roll", methods="pca,lda", n=300, n_eval=100, isolate=False)
    pca, lda = result["rows"]
    assert lda["note"] == "LDA needs class labels; this data has none"
    assert "knn_accuracy" not in pca and -1 <= pca["coord_spearman"] <= 1


def test_isolated_run_gives_the_same_embedding_and_a_memory_figure():
    rng = np.random.default_rng(0)
    x_fit, x_eval = rng.normal(size=(300, 20)), rng.normal(size=(50, 20))
    opts = Options(dims=3)
    here = measure("pca", x_fit, None, x_eval, opts, None, isolate=False)
    there = measure("pca", x_fit, None, x_eval, opts, None, isolate=True)
    np.testing.assert_allclose(there["z_eval"], here["z_eval"], atol=1e-12)
    np.testing.assert_allclose(there["x_hat"], here["x_hat"], atol=1e-12)
    assert here["peak_mem_mb"] is None and there["peak_mem_mb"] >= 0


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"),
                    reason="the peak can be reset on Linux only")
def test_peak_memory_sees_an_allocation_made_after_the_start():
    # in a fresh process, as compare measures each method: inside a test worker the allocator
    # can serve the block from memory freed by earlier tests and still resident (measured rise 0)
    code = ("import numpy as np\n"
            "from hourglass.uses.compare import peak_memory, start_peak_memory\n"
            "before = start_peak_memory()\n"
            "block = np.ones(50 * 2 ** 20 // 8)  # 50 MiB, touched\n"
            "print(peak_memory() - before)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert 49 <= float(out) < 200


def test_method_names_are_checked():
    assert parse_methods("pca, tsne,ae") == ["pca", "tsne", "ae"]
    assert {"pca", "lda", "isomap", "lle", "tsne", "umap", "ae", "vae"} <= set(known_methods())
    assert "nade" not in known_methods()  # no encoder: nothing to embed with
    with pytest.raises(ConfigError, match=r"Unknown method\(s\) 'pcaa'. Valid methods: pca, lda"):
        parse_methods("pca,pcaa")


def test_cli_compare_prints_the_table_and_writes_the_files(tmp_path, capsys):
    rc = main(["compare", "--data", "digits", "--methods", "pca", "--n", "100", "--n-eval", "40",
               "--no-isolate", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert (tmp_path / "compare.md").read_text() in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compare.json", "compare.md",
                                                          "compare.png", "embeddings.npz"]


def test_cli_compare_errors_are_one_line(tmp_path, capsys):
    rc = main(["compare", "--methods", "pca", "--n-eval", "10", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert err == ("hourglass: error: k=10 neighbours need more than 20 held-out points; the test "
                   "split gives 10. Lower --k or raise --n-eval.\n")
