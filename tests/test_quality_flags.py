"""The thickness flag's lower MT limit is fitted to the training masks, not typed in."""
from __future__ import annotations

import numpy as np
import pytest

from msknb.data import load_mask
from msknb.data.kit_split import load_kit_split
from msknb.errors import MsknbError
from msknb.thickness.methods import measure_thickness
from msknb.thickness.quality import MT_RANGE_MARGIN, QUALITY_LIMITS, mt_range


def test_mt_range_widens_the_reference_range():
    assert mt_range([0.2, 0.3, 0.5]) == (0.16, 0.625)
    assert mt_range([0.2, 0.5], margin=1.0) == (0.2, 0.5)


def test_lower_limit_is_the_fit_to_the_kit_train_masks(shared_data):
    ratios = []
    for i in load_kit_split()["train"]:
        mask = (load_mask(next((shared_data / "masks").glob(i + ".*"))) > 0).astype(np.float32)
        try:
            ratios.append(measure_thickness(mask, threshold=0.5, method="chords").mt_px / mask.shape[0])
        except MsknbError:  # the one single-band training mask
            continue
    assert len(ratios) >= 360
    low, _ = mt_range(ratios, MT_RANGE_MARGIN)
    assert QUALITY_LIMITS["mt_over_height"][0] == pytest.approx(low, abs=1e-3)
