"""msknb.evaluation.weights (fetch once, checksummed, cached, atomic; fast named failure
offline) and msknb.evaluation.fid (torchmetrics FID, with a stand-in network).

These tests NEVER download: they serve bytes from ``file://`` URLs or a stand-in opener,
and an unreachable URL is a closed port on localhost."""
from __future__ import annotations

import hashlib
import io
import socket
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_fidelity.feature_extractor_inceptionv3 as tfi
import torchvision

from msknb.errors import MsknbError
from msknb.evaluation import features, fid, weights
from msknb.evaluation.weights import WeightsChecksumError, WeightsUnavailableError


@pytest.fixture(autouse=True)
def _no_real_downloads(monkeypatch, tmp_path):
    """No test may reach the internet: downloads go only through the specs built here."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(weights.NO_DOWNLOAD_ENV, raising=False)

    real_urlopen = weights._urlopen

    def refuse(url, timeout_s):
        if not url.startswith("file:"):
            raise AssertionError(f"test tried to download {url}")
        return real_urlopen(url, timeout_s)

    monkeypatch.setattr(weights, "_urlopen", refuse)


def _spec(tmp_path, payload: bytes, sha: str | None = None, name: str = "tiny-weights.pth"):
    src = tmp_path / "server" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(payload)
    return weights.WeightsFile(name, src.as_uri(), sha or hashlib.sha256(payload).hexdigest(), "test weights", 0.001)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_right_hash_downloads_once_then_uses_the_cache(tmp_path):
    payload = b"weights" * 1000
    spec = _spec(tmp_path, payload)
    cache = tmp_path / "cache"
    path = weights.fetch_weights(spec, cache, progress=False)
    assert path == cache / spec.filename and path.read_bytes() == payload
    assert _leftovers(cache) == [spec.filename]  # no temporary file left
    (tmp_path / "server" / spec.filename).unlink()  # the source is gone: the cache must be used
    assert weights.fetch_weights(spec, cache, progress=False) == path


def test_hash_prefix_in_the_name_is_accepted(tmp_path):
    payload = b"torchvision-style"
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    spec = _spec(tmp_path, payload, sha=prefix, name=f"net-{prefix}.pth")
    assert weights.fetch_weights(spec, tmp_path / "cache", progress=False).read_bytes() == payload
    with pytest.raises(MsknbError, match="at least 8 hex"):
        weights.hash_matches("ab" * 32, "abc")


def test_wrong_hash_is_a_named_error_and_leaves_no_file(tmp_path):
    spec = _spec(tmp_path, b"tampered", sha="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(WeightsChecksumError) as e:
        weights.fetch_weights(spec, cache, progress=False)
    assert spec.filename in str(e.value) and "nothing was saved" in str(e.value)
    assert _leftovers(cache) == []


def test_damaged_cached_file_is_reported_not_used(tmp_path):
    spec = _spec(tmp_path, b"good")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / spec.filename).write_bytes(b"bad")
    with pytest.raises(WeightsChecksumError, match="delete it"):
        weights.fetch_weights(spec, cache, progress=False)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_fails_fast_naming_file_url_and_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "_urlopen", lambda url, t: urllib.request.urlopen(url, timeout=t))  # localhost only
    url = f"http://127.0.0.1:{_closed_port()}/weights-x.pth"
    spec = weights.WeightsFile("weights-x.pth", url, "1" * 64, "test weights", 1.0)
    cache = tmp_path / "cache"
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as e:
        weights.fetch_weights(spec, cache, timeout_s=2.0, progress=False)
    assert time.perf_counter() - start < 3.0
    msg = str(e.value)
    assert "weights-x.pth" in msg and url in msg and str(cache) in msg
    assert _leftovers(cache) == []


def test_stand_in_opener_and_interrupted_download(tmp_path):
    payload = b"served by a stand-in opener"
    spec = weights.WeightsFile("w.pth", "https://example.invalid/w.pth", hashlib.sha256(payload).hexdigest(), "w", 0.1)
    assert weights.fetch_weights(spec, tmp_path / "a", opener=lambda u, t: io.BytesIO(payload),
                                 progress=False).read_bytes() == payload

    class Broken(io.BytesIO):
        def read(self, *_):
            raise TimeoutError("timed out")

    with pytest.raises(WeightsUnavailableError, match="interrupted"):
        weights.fetch_weights(spec, tmp_path / "b", opener=lambda u, t: Broken(), progress=False)
    assert _leftovers(tmp_path / "b") == []

    def offline(url, timeout_s):
        raise urllib.error.URLError("Name or service not known")

    with pytest.raises(WeightsUnavailableError, match="offline"):
        weights.fetch_weights(spec, tmp_path / "c", opener=offline)


def test_no_download_env_fails_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.NO_DOWNLOAD_ENV, "1")
    spec = weights.WeightsFile("w.pth", "https://example.invalid/w.pth", "2" * 64, "w", 0.1)
    with pytest.raises(WeightsUnavailableError, match="downloads are off"):
        weights.fetch_weights(spec, tmp_path, opener=lambda u, t: pytest.fail("must not open"))


def test_pinned_specs_are_the_published_files():
    assert weights.FID_INCEPTION.url.endswith(weights.FID_INCEPTION.filename)
    assert weights.FID_INCEPTION.sha256.startswith("6726825d") and len(weights.FID_INCEPTION.sha256) == 64
    for net, spec in weights.LPIPS_BACKBONES.items():
        assert spec.url == "https://download.pytorch.org/models/" + spec.filename
        assert spec.filename.rsplit("-", 1)[1] == spec.sha256 + ".pth"  # torch.hub's hash-in-the-name
        assert features.BACKBONE_FILES[net] == spec.filename


def test_lpips_offline_names_the_file_url_and_folder(monkeypatch):
    monkeypatch.setattr(weights, "_urlopen", lambda url, t: (_ for _ in ()).throw(urllib.error.URLError("offline")))
    with pytest.raises(WeightsUnavailableError) as e:
        features.load_lpips("alex", pretrained=True)
    msg = str(e.value)
    assert weights.ALEXNET.filename in msg and weights.ALEXNET.url in msg and str(weights.checkpoint_dir()) in msg


def test_standard_fid_offline_names_the_file(monkeypatch):
    monkeypatch.setenv(weights.NO_DOWNLOAD_ENV, "1")
    with pytest.raises(WeightsUnavailableError) as e:
        fid.load_standard_fid()
    assert weights.FID_INCEPTION.filename in str(e.value) and weights.FID_INCEPTION.url in str(e.value)


# ---------------------------------------------------------------- FID (torchmetrics) ----
def _images(n, size=32, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    return np.clip(rng.random((n, size, size)) * 0.5 + shift, 0, 1).astype(np.float32)


def test_fid_with_stand_in_network_matches_our_frechet_distance():
    stand_in = fid.random_stand_in(num_features=8, seed=0)
    assert not stand_in.standard and "not FID" in stand_in.note
    a, b = _images(12, seed=1), _images(10, seed=2)
    value = fid.fid_between(stand_in, a, b, batch_size=5)
    with torch.inference_mode():
        fa = stand_in.metric.inception(fid.to_fid_input(a)).double().numpy()
        fb = stand_in.metric.inception(fid.to_fid_input(b)).double().numpy()
    assert value == pytest.approx(features.frechet_distance(fa, fb), rel=1e-3, abs=1e-6)
    assert fid.fid_between(stand_in, a, a) == pytest.approx(0.0, abs=1e-4)


def test_fid_with_baseline_same_n_and_reference():
    stand_in = fid.random_stand_in(num_features=8, seed=0)
    ra, rb = _images(14, seed=3), _images(12, seed=4)
    synth = _images(20, seed=5, shift=0.5)  # brighter: far from real
    out = fid.fid_with_baseline(stand_in, ra, rb, synth, seed=0, batch_size=8)
    assert out["n"] == 14 and out["n_reference"] == 12 and not out["standard"]
    assert out["synthetic_vs_real"]["frechet"] > out["real_vs_real"]["frechet"] >= 0
    again = fid.fid_with_baseline(stand_in, ra, rb, synth, seed=0, batch_size=3)  # deterministic, batch-independent
    assert again["synthetic_vs_real"]["frechet"] == pytest.approx(out["synthetic_vs_real"]["frechet"], rel=1e-4)
    only_real = fid.fid_with_baseline(stand_in, ra, rb, None)
    assert only_real["synthetic_vs_real"] is None and only_real["n"] == 14
    with pytest.raises(MsknbError, match="at least 2"):
        fid.fid_with_baseline(stand_in, ra[:1], rb, None)


def test_standard_fid_loads_the_inception_weights_file(tmp_path, monkeypatch):
    """The real torch-fidelity architecture and loading path, with a random stand-in
    weights file (its own SHA-256 pinned) served from a file:// URL."""
    with monkeypatch.context() as m:  # build the architecture without any weights
        m.setattr(tfi, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(tfi.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, *a, **k: None)
        torch.manual_seed(0)
        net = tfi.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    src = tmp_path / "server" / weights.FID_INCEPTION.filename
    src.parent.mkdir()
    torch.save(net.state_dict(), src)
    spec = replace(weights.FID_INCEPTION, url=src.as_uri(), sha256=hashlib.sha256(src.read_bytes()).hexdigest())
    monkeypatch.setattr(fid, "FID_INCEPTION", spec)
    loaded = fid.load_standard_fid(progress=False)
    assert loaded.standard and loaded.weights == str(weights.checkpoint_dir() / spec.filename)
    assert torch.equal(loaded.metric.inception.Conv2d_1a_3x3.conv.weight, net.Conv2d_1a_3x3.conv.weight)
    assert np.isfinite(fid.fid_between(loaded, _images(3, seed=1), _images(3, seed=2, shift=0.4)))
    assert "torchmetrics" in loaded.note and weights.FID_INCEPTION.filename in loaded.note
    src.unlink()  # 96 MB each: do not keep them in pytest's retained tmp folders
    Path(loaded.weights).unlink()


def test_lpips_fetches_verifies_and_loads_the_backbone(tmp_path, monkeypatch):
    """Right hash -> cached file -> loaded into LPIPS. SqueezeNet (5 MB) stands in for
    AlexNet (same code path); its random weights' own SHA-256 is pinned for the test."""
    torch.manual_seed(3)
    ref = torchvision.models.squeezenet1_1(weights=None)
    spec = weights.LPIPS_BACKBONES["squeeze"]
    src = tmp_path / "server" / spec.filename
    src.parent.mkdir()
    torch.save(ref.state_dict(), src)
    stand_in = replace(spec, url=src.as_uri(), sha256=hashlib.sha256(src.read_bytes()).hexdigest())
    monkeypatch.setitem(weights.LPIPS_BACKBONES, "squeeze", stand_in)
    model = features.load_lpips("squeeze", pretrained=True)
    assert model.pretrained and spec.filename in model.note
    assert (weights.checkpoint_dir() / spec.filename).read_bytes() == src.read_bytes()
    assert torch.equal(model.module.net.slice1[0].weight, ref.features[0].weight)
