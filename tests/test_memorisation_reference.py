"""msknb.evaluation.memorisation.generator_reference: notebook 07's memorisation search set is
every image the generator saw (its record's training ids), not 05's training split."""
from __future__ import annotations

import numpy as np
import pytest

from msknb.ddpm.provenance import test_overlap
from msknb.errors import MsknbError
from msknb.evaluation.memorisation import generator_reference, memorisation_check
from msknb.data.phantom import make_phantom
from msknb.io import write_png


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("set")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    for k in range(8):
        ph = make_phantom(("TA", "GCM")[k % 2], size=48, seed=k)
        write_png(root / "images" / f"img_{k:02d}.png", ph.image)
        write_png(root / "masks" / f"img_{k:02d}.png", ph.mask, mask=True)
    return root


def test_search_set_is_every_generator_id_with_missing_ones_listed(folder):
    seen = ["img_00", "img_01", "img_02", "img_05", "img_99"]  # img_05 is not in 05's train; img_99 not on disk
    test_ids = ["img_06", "img_07"]
    ref = generator_reference(folder, seen, test_ids, 32)
    assert sorted(ref["train"].ids) == ["img_00", "img_01", "img_02", "img_05"]
    assert sorted(ref["test"].ids) == test_ids
    assert ref["n_requested"] == 5 and ref["missing"] == ["img_99"]
    assert ref["train"].images.shape[1:] == (32, 32)
    assert test_overlap(seen, test_ids) == []
    # a "synthetic" image that copies img_05 (seen by the generator, not in 05's train) is found
    copy = ref["train"].images[[ref["train"].ids.index("img_05")]]
    summary, nb, _ = memorisation_check(copy, ref["train"].images, ref["train"].ids, ref["test"].images,
                                        ref["test"].subjects, ref["train"].subjects, ["copy"])
    assert nb.ids == ["img_05"] and nb.similarity[0] > 0.999
    assert "near-copies of training images" in summary["conclusion"]

def test_overlap_with_test_is_counted_and_nothing_found_raises(folder):
    assert test_overlap(["img_00", "img_06"], ["img_06", "img_07"]) == ["img_06"]
    assert test_overlap(None, ["img_06"]) is None
    with pytest.raises(MsknbError):
        generator_reference(folder, ["nope"], ["img_06"], 32)
