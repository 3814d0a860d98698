"""The generator cost table (msknb.ddpm.cost): one architecture timed, the stored table read."""
from __future__ import annotations

import json

import pytest

from msknb.ddpm.cost import cost_reading, measure_cost, read_cost_table
from msknb.ddpm.figures import cost_figure
from msknb.errors import CheckpointError


def test_measure_cost_times_training_and_sampling():
    r = measure_cost({"image_size": 16, "dim": 8, "dim_mults": (1, 2), "fold": 2, "condition": "mask+lowres",
                      "lowres_size": 8}, batch_size=2, steps=1, sample_steps=5)
    assert r["train_img_per_s"] > 0 and r["sample_s_per_image"] > 0 and r["parameters"] > 0


def test_the_table_is_read_drawn_and_read_out(tmp_path):
    with pytest.raises(CheckpointError, match="bench_generator_cost"):
        read_cost_table(tmp_path / "absent.json")
    rows = {"pixel 64 px, width 16": {"train_img_per_s": 16.0, "sample_s_per_image": 0.9},
            "fold 4 at 256 px, width 32 (shipped)": {"train_img_per_s": 8.0, "sample_s_per_image": 2.0}}
    (tmp_path / "cost.json").write_text(json.dumps({"rows": rows, "threads": 1}))
    table = read_cost_table(tmp_path / "cost.json")
    assert "2.0x per training image" in cost_reading(table)
    assert len(cost_figure(table).axes[0].patches) == 2
