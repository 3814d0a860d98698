"""The shipped segmenter and the conditional set leave out the label pairs QA flags (issue 18):
msknb.data.label_qa.unflagged."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from msknb.data.dataset import UltrasoundSet
from msknb.data.phantom import make_phantom
from msknb.data.label_qa import unflagged as drop_flagged


def _set(n: int = 6) -> UltrasoundSet:
    ph = [make_phantom("TA", size=64, seed=s) for s in range(n)]
    images = np.stack([p.image for p in ph]).astype(np.float32)
    masks = np.stack([p.mask for p in ph]).astype(np.uint8)
    masks[2] = np.roll(masks[2], 6, axis=0)        # mask beside the bands: off_band
    masks[4] = 0                                    # empty mask
    ids = [f"p{i}" for i in range(n)]
    return UltrasoundSet(images=images, masks=masks, ids=ids, paths=[Path(f"{i}.png") for i in ids],
                         spacing_mm=np.full((n, 2), np.nan), groups=["TA"] * n, subjects=ids)


def test_drop_flagged_removes_the_wrong_pairs_only():
    ds = _set()
    keep, dropped = drop_flagged(ds, np.array([0, 1, 2, 4, 5]))
    assert dropped == ["p2", "p4"]
    assert keep.tolist() == [0, 1, 5]


def test_another_training_seed_keeps_the_kit_split(monkeypatch, tmp_path):
    """``--seed 1`` trains another model on the same split; the kit split file is written with seed 0."""
    from msknb.segmentation import shipped

    ds = _set()
    seen = {}
    monkeypatch.setattr(shipped, "load_folder", lambda *a, **k: ds)

    def fake_split(d, seed):
        seen["split"] = seed
        return {"train": ds.ids[:4], "val": ds.ids[4:], "test": []}
    monkeypatch.setattr(shipped, "kit_split", fake_split)
    monkeypatch.setattr(shipped, "write_kit_split", lambda split, seed: seen.setdefault("written", seed))

    class Result:
        best_epoch, best_val_dice, history = 1, 0.5, [{}]

    def fake_train(*a, seed, **k):
        seen["train"] = seed
        return Result()
    monkeypatch.setattr(shipped, "train_segmenter", fake_train)
    shipped.main(["--data", str(tmp_path), "--seed", "1", "--out", str(tmp_path / "s.pt")])
    assert seen == {"split": 0, "written": 0, "train": 1}


def test_segmenter_training_resumes_bit_exactly_and_keeps_other_states(tmp_path, capsys):
    """A run stopped after 2 epochs and re-run to 4 equals one run of 4 epochs; a state from other
    settings is moved aside (printed), never overwritten."""
    import torch

    from msknb.segmentation.training import train_segmenter

    rng = np.random.default_rng(0)
    x = rng.random((8, 32, 32)).astype(np.float32)
    m = (x > 0.7).astype(np.float32)
    cfg = {"image_size": 32, "epochs": 4, "lr_step": 2, "augment": True}
    whole = train_segmenter(x, m, x[:4], m[:4], cfg, seed=1, progress=False)
    state = tmp_path / "seg.state.pt"
    part = train_segmenter(x, m, x[:4], m[:4], {**cfg, "epochs": 2}, seed=1, progress=False, state_path=state)
    assert len(part.history) == 2 and state.is_file()
    resumed = train_segmenter(x, m, x[:4], m[:4], cfg, seed=1, progress=False, state_path=state)
    assert [h["val_dice"] for h in resumed.history] == [h["val_dice"] for h in whole.history]
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    again = train_segmenter(x, m, x[:4], m[:4], cfg, seed=1, progress=False, state_path=state)
    assert len(again.history) == 4  # finished: nothing trained again
    train_segmenter(x, m, x[:4], m[:4], {**cfg, "lr": 1e-4, "epochs": 1}, seed=1, progress=False, state_path=state)
    aside = list(tmp_path.glob("seg.state.set-aside-*.pt"))
    assert len(aside) == 1 and "lr" in capsys.readouterr().out
