"""msknb.thickness.agreement: ICC(2,1) against Shrout & Fleiss (1979), CCC against its formula,
Bland–Altman numbers by hand, NaN handling, the plotly figure."""
from __future__ import annotations

import math

import numpy as np
import pytest

from msknb.thickness.agreement import PAPER_TABLE5_RMSE_MM, agreement, icc_2_1, lin_ccc
from msknb.thickness.figures import bland_altman_figure
from msknb.errors import ConfigError

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges. Their Table 4 reports
# ICC(1,1) = .17, ICC(2,1) = .29, ICC(3,1) = .71.
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)


def test_icc_2_1_matches_shrout_fleiss_table():
    assert round(icc_2_1(SHROUT_FLEISS), 2) == 0.29
    # ANOVA worked by hand for this table: BMS = 11.24, JMS = 32.49, EMS = 1.02 (n=6, k=4)
    bms, jms, ems, n, k = 56.2083 / 5, 97.4583 / 3, 15.2917 / 15, 6, 4
    by_hand = (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)
    assert icc_2_1(SHROUT_FLEISS) == pytest.approx(by_hand, abs=1e-4)


def test_icc_two_raters_hand_worked():
    # targets 1..4 rated by a, and by b = a + 1 (a constant offset, so not perfect agreement)
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = a + 1
    x = np.column_stack([a, b])
    n, k = 4, 2
    # row means 1.5, 2.5, 3.5, 4.5 (grand 3): SSR = 2 * (2.25+0.25+0.25+2.25) = 10, BMS = 10/3
    # column means 2.5, 3.5: SSC = 4 * (0.25+0.25) = 2, JMS = 2; SSE = 0, EMS = 0
    expected = (10 / 3) / (10 / 3 + k * 2 / n)  # = 10 / 13
    assert expected == pytest.approx(10 / 13)
    assert icc_2_1(x) == pytest.approx(expected)
    assert icc_2_1(np.column_stack([a, a])) == pytest.approx(1.0)


def test_ccc_matches_direct_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(25, 6, 50)
    b = a + rng.normal(0.5, 1.0, 50)
    sab = np.sum((a - a.mean()) * (b - b.mean())) / len(a)
    direct = 2 * sab / (np.var(a) + np.var(b) + (a.mean() - b.mean()) ** 2)
    assert lin_ccc(a, b) == pytest.approx(direct)
    assert lin_ccc(a, a) == pytest.approx(1.0)
    assert lin_ccc(a, a + 3) < 1.0  # a constant shift is disagreement (unlike Pearson's r)


def test_bland_altman_numbers_by_hand():
    a = [10.0, 12.0, 14.0, 16.0]
    b = [11.0, 12.0, 15.0, 18.0]  # differences 1, 0, 1, 2
    r = agreement(a, b)
    assert r["n"] == 4 and r["n_dropped"] == 0
    assert r["bias"] == pytest.approx(1.0)
    sd = math.sqrt(((0) ** 2 + 1 + 0 + 1) / 3)  # sample SD of (1, 0, 1, 2)
    assert r["sd_diff"] == pytest.approx(sd)
    assert r["loa_low"] == pytest.approx(1 - 1.96 * sd) and r["loa_high"] == pytest.approx(1 + 1.96 * sd)
    assert r["rmse"] == pytest.approx(math.sqrt((1 + 0 + 1 + 4) / 4))
    assert r["mean_a"] == pytest.approx(13.0) and r["mean_b"] == pytest.approx(14.0)


def test_nan_pairs_dropped_and_reported():
    r = agreement([1.0, np.nan, 3.0, 4.0, 5.0], [1.0, 2.0, np.inf, 4.5, 5.0], ids=list("abcde"))
    assert r["n"] == 3 and r["n_dropped"] == 2 and r["dropped_ids"] == ["b", "c"]
    assert np.isfinite(r["rmse"]) and np.isfinite(r["icc_2_1"])
    empty = agreement([np.nan], [1.0])
    assert empty["n"] == 0 and math.isnan(empty["rmse"])


def test_bad_inputs_raise_config_error():
    with pytest.raises(ConfigError, match="same length"):
        agreement([1, 2], [1, 2, 3])
    with pytest.raises(ConfigError, match="ids"):
        agreement([1, 2], [1, 2], ids=["a"])


def test_bland_altman_figure_has_ids_and_lines():
    a = np.array([20.0, 22.0, 25.0, np.nan, 30.0])
    b = np.array([20.5, 21.5, 25.8, 24.0, 30.4])
    ids = [f"img_{i}" for i in range(5)]
    fig = bland_altman_figure(a, b, ids, title="Real", unit="mm")
    scatter = fig.data[0]
    assert [row[0] for row in scatter.customdata] == ["img_0", "img_1", "img_2", "img_4"]
    assert "customdata[0]" in scatter.hovertemplate and "mm" in scatter.hovertemplate
    hlines = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(hlines) == 3  # bias and both limits of agreement
    assert "n = 4" in fig.layout.title.text


def test_paper_reference_constants():
    assert PAPER_TABLE5_RMSE_MM == {"Real": 0.35, "Gen": 1.05, "Real+Gen": 0.38}
