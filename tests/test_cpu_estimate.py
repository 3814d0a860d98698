"""Issue 29: the paper profile on a CPU says up front about how long the data will take."""
from __future__ import annotations

import pytest

from msknb.runner.cpu_estimate import SECONDS_PER_IMAGE, TRAIN_SHARE, count_images, heavy_seconds, paper_cpu_notice

ALL = ["00_data", "01_forward_diffusion", "02_reverse_diffusion", "03_train_ddpm", "04_sampling",
       "05_segmentation", "06_muscle_thickness", "07_evaluation"]


def test_the_estimate_follows_images_epochs_and_the_notebooks_chosen():
    full = heavy_seconds(463, {}, ALL)
    assert set(full) == {"02_reverse_diffusion", "03_train_ddpm", "04_sampling", "05_segmentation"}
    few = heavy_seconds(8, {}, ALL)
    assert few["03_train_ddpm"][0] < full["03_train_ddpm"][0] and few["04_sampling"] == full["04_sampling"]
    one = heavy_seconds(8, {"epochs": 1, "ddim_steps": 5}, ["03_train_ddpm"])
    assert list(one) == ["03_train_ddpm"]
    expected = (1 * TRAIN_SHARE * 8 + 4) * SECONDS_PER_IMAGE["ddpm_train"] + 10 * 5 * SECONDS_PER_IMAGE["ddpm_call"]
    assert one["03_train_ddpm"][0] == pytest.approx(expected)
    assert "1 epoch x" in one["03_train_ddpm"][1]
    grid = heavy_seconds(10, {"experiments": "Real,Gen", "n_samples": 20}, ["05_segmentation"])
    assert grid["05_segmentation"][0] == pytest.approx(300 * (TRAIN_SHARE * 10 + 20) * SECONDS_PER_IMAGE["seg_train"])


def test_notice_counts_the_images_and_names_gpu_time_and_memory(tmp_path):
    (tmp_path / "images").mkdir()
    for name in ("a.png", "b.tif", "c.dcm", "notes.txt", ".hidden.png"):
        (tmp_path / "images" / name).write_bytes(b"")
    assert count_images(tmp_path) == 3
    text = paper_cpu_notice(tmp_path, {"max_images": 2}, ["03_train_ddpm"], threads=2)
    assert text.startswith("note: the paper profile is meant for a GPU")
    assert "2 images (max_images of 3)" in text and "03_train_ddpm" in text and "on the 2 cores" in text
    assert "memory:" in text and "GB" in text
