"""Issue 15: every exercise check accepts the reference, answers a stub kindly, never raises,
and names the typical mistakes (at least two per exercise) in plain words."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.linalg
import torch

import msknb.exercises as ex
from msknb.exercises.sampling import _ddim_loop
from msknb.paths import NOTEBOOKS_DIR


# ----------------------------------------------------------------------------- solutions
def forward_step(x, t, s, n):
    b = s.betas[t]
    return (1 - b).sqrt() * x + b.sqrt() * n


def alphas_cumprod_and_snr(betas):
    ac = torch.cumprod(1 - betas, 0)
    return ac, ac / (1 - ac)


def closed_form_sample(x0, t, s, n):
    a = s.alphas_cumprod[t]
    return a.sqrt() * x0 + (1 - a).sqrt() * n


def residual_signal(betas):
    return float(torch.cumprod(1 - betas, 0)[-1].sqrt())


def posterior_mean_variance(x0, xt, t, s):
    ac, acp, b, a = s.alphas_cumprod[t], s.alphas_cumprod_prev[t], s.betas[t], s.alphas[t]
    return acp.sqrt() * b / (1 - ac) * x0 + a.sqrt() * (1 - acp) / (1 - ac) * xt, (1 - acp) / (1 - ac) * b


def predict_x0(xt, t, s, eps):
    a = s.alphas_cumprod[t]
    return (xt - (1 - a).sqrt() * eps) / a.sqrt()


def ddpm_step(xt, t, s, eps, z):
    mean, var = posterior_mean_variance(predict_x0(xt, t, s, eps), xt, t, s)
    return mean + var.sqrt() * z if t > 0 else mean


def diffusion_loss(model, x0, t, noise, s):
    a = s.alphas_cumprod[t].view(-1, 1, 1, 1)
    return (model(a.sqrt() * x0 + (1 - a).sqrt() * noise, t) - noise).abs().mean()


def eps_x0_from_v(xt, t, s, v):
    a, b = s.alphas_cumprod[t].sqrt(), (1 - s.alphas_cumprod[t]).sqrt()
    return b * xt + a * v, a * xt - b * v


def ddim_step(xt, t, t_prev, s, eps):
    at = s.alphas_cumprod[t]
    ap = s.alphas_cumprod[t_prev] if t_prev >= 0 else torch.tensor(1.0)
    return ap.sqrt() * (xt - (1 - at).sqrt() * eps) / at.sqrt() + (1 - ap).sqrt() * eps


def ddim_timesteps(T, steps):
    return [k * (T // steps) for k in range(steps - 1, -1, -1)]


def overlap_metrics(prob, expert):
    pred, true = prob > 0.5, expert > 0
    tp, fp, fn = (pred & true).sum(), (pred & ~true).sum(), (~pred & true).sum()
    return tp / (tp + fp), tp / (tp + fn), 2 * tp / (2 * tp + fp + fn), tp / (tp + fp + fn)


def ddim_sample(eps_fn, x, sched, steps):
    r = sched.timesteps // steps
    for t in range(sched.timesteps - r, -1, -r):
        eps = eps_fn(x, t)
        abar = sched.alphas_cumprod[t]
        abar_prev = sched.alphas_cumprod[t - r] if t > 0 else torch.tensor(1.0)
        x = abar_prev.sqrt() * (x - (1 - abar).sqrt() * eps) / abar.sqrt() + (1 - abar_prev).sqrt() * eps
    return x


def choose_metric():
    return "dice"


def typical_error():
    return "cannot tell"


def leak_count(labels, train_idx, test_idx):
    seen = set(labels[train_idx].tolist())
    return sum(int(labels[i]) in seen for i in test_idx)


def choose_split():
    return "grouped"


def limits_of_agreement(expert, predicted):
    d = predicted - expert
    return d.mean(), d.mean() - 1.96 * d.std(ddof=1), d.mean() + 1.96 * d.std(ddof=1)


def ccc(e, p):
    return 2 * np.mean((e - e.mean()) * (p - p.mean())) / (e.var() + p.var() + (e.mean() - p.mean()) ** 2)


def frechet_gaussian(mu1, cov1, mu2, cov2):
    d = mu1 - mu2
    return d @ d + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(scipy.linalg.sqrtm(cov1 @ cov2)).real


def fid_and_n():
    return "n = 20"


SOLUTIONS = {name: globals()[name] for name in ex.EXERCISES}


def _check(name):
    return getattr(ex, f"check_{name}")


# ----------------------------------------------------------------------------- typical mistakes
def _ddpm_beta_variance(xt, t, s, eps, z):
    mean, _ = posterior_mean_variance(predict_x0(xt, t, s, eps), xt, t, s)
    return mean + s.betas[t].sqrt() * z


def _ddpm_last_element(xt, t, s, eps, z):  # ᾱ_{t-1} as alphas_cumprod[t - 1]: at t = 0 that is [-1]
    ac, acp, b, a = s.alphas_cumprod[t], s.alphas_cumprod[t - 1], s.betas[t], s.alphas[t]
    x0 = predict_x0(xt, t, s, eps)
    var = (1 - acp) / (1 - ac) * b
    mean = acp.sqrt() * b / (1 - ac) * x0 + a.sqrt() * (1 - acp) / (1 - ac) * xt
    return mean + var.clamp(min=0).sqrt() * z


def _ddim_last_element(xt, t, t_prev, s, eps):
    at, ap = s.alphas_cumprod[t], s.alphas_cumprod[t_prev]
    return ap.sqrt() * (xt - (1 - at).sqrt() * eps) / at.sqrt() + (1 - ap).sqrt() * eps


def _ddim_old_noise(xt, t, t_prev, s, eps):
    at = s.alphas_cumprod[t]
    ap = s.alphas_cumprod[t_prev] if t_prev >= 0 else torch.tensor(1.0)
    return ap.sqrt() * (xt - (1 - at).sqrt() * eps) / at.sqrt() + (1 - at).sqrt() * eps


def _loss_per_t0(model, x0, t, noise, s):
    a = s.alphas_cumprod[t[0]]
    return (model(a.sqrt() * x0 + (1 - a).sqrt() * noise, t) - noise).abs().mean()


def _loss_unshaped(model, x0, t, noise, s):  # ᾱ[t] of shape (B,) against (B, C, H, W): raises
    a = s.alphas_cumprod[t]
    return (model(a.sqrt() * x0 + (1 - a).sqrt() * noise, t) - noise).abs().mean()


def _pmv_x0_weight_at_t(x0, xt, t, s):  # ᾱ_t in place of ᾱ_{t−1} in the weight of x_0 only
    ac, acp, b, a = s.alphas_cumprod[t], s.alphas_cumprod_prev[t], s.betas[t], s.alphas[t]
    return ac.sqrt() * b / (1 - ac) * x0 + a.sqrt() * (1 - acp) / (1 - ac) * xt, (1 - acp) / (1 - ac) * b


def _ddpm_x0_weight_at_t(xt, t, s, eps, z):
    mean, var = _pmv_x0_weight_at_t(predict_x0(xt, t, s, eps), xt, t, s)
    return mean + var.sqrt() * z if t > 0 else mean


def _ddpm_x0_sign(xt, t, s, eps, z):
    a = s.alphas_cumprod[t]
    mean, var = posterior_mean_variance((xt + (1 - a).sqrt() * eps) / a.sqrt(), xt, t, s)
    return mean + var.sqrt() * z if t > 0 else mean


def _ddim_x0_sign(xt, t, t_prev, s, eps):
    at = s.alphas_cumprod[t]
    ap = s.alphas_cumprod[t_prev] if t_prev >= 0 else torch.tensor(1.0)
    return ap.sqrt() * (xt + (1 - at).sqrt() * eps) / at.sqrt() + (1 - ap).sqrt() * eps


def _v_x0_sign(xt, t, s, v):
    a, b = s.alphas_cumprod[t].sqrt(), (1 - s.alphas_cumprod[t]).sqrt()
    return b * xt + a * v, a * xt + b * v


def _loss_pixel_sum(model, x0, t, noise, s):  # summed over the 16 pixels, mean over the batch
    a = s.alphas_cumprod[t].view(-1, 1, 1, 1)
    return (model(a.sqrt() * x0 + (1 - a).sqrt() * noise, t) - noise).abs().sum((1, 2, 3)).mean()


def _loss_batch_sum(model, x0, t, noise, s):
    a = s.alphas_cumprod[t].view(-1, 1, 1, 1)
    return (model(a.sqrt() * x0 + (1 - a).sqrt() * noise, t) - noise).abs().mean((1, 2, 3)).sum()


WRONG = [
    ("forward_step", lambda x, t, s, n: (1 - s.betas[t]) * x + s.betas[t] * n, "missing square roots"),
    ("forward_step", lambda x, t, s, n: s.betas[t].sqrt() * x + (1 - s.betas[t]).sqrt() * n, "used β instead of α"),
    ("forward_step", lambda x, t, s, n: forward_step(x, t + 1, s, n), "off by one in t"),
    ("forward_step", lambda x, t, s, n: (1 - s.betas[t]).sqrt() * x - s.betas[t].sqrt() * n, "wrong sign"),
    ("forward_step", lambda x, t, s, n: forward_step(x, t, s, n)[0], "wrong shape"),
    ("alphas_cumprod_and_snr", lambda b: (torch.cumprod(b, 0), torch.cumprod(b, 0) / (1 - torch.cumprod(b, 0))),
     "used β instead of α"),
    ("alphas_cumprod_and_snr", lambda b: (alphas_cumprod_and_snr(b)[0], 1 / alphas_cumprod_and_snr(b)[1]),
     "SNR upside down"),
    ("alphas_cumprod_and_snr", lambda b: (alphas_cumprod_and_snr(b)[0], alphas_cumprod_and_snr(b)[1].sqrt()),
     "extra square root"),
    ("alphas_cumprod_and_snr", lambda b: alphas_cumprod_and_snr(b)[0], "return 2 values"),
    ("closed_form_sample", lambda x, t, s, n: s.alphas_cumprod[t] * x + (1 - s.alphas_cumprod[t]) * n,
     "missing square roots"),
    ("closed_form_sample", lambda x, t, s, n: s.alphas[t].sqrt() * x + (1 - s.alphas[t]).sqrt() * n,
     "used α_t (one step) instead of ᾱ_t"),
    ("closed_form_sample", lambda x, t, s, n: closed_form_sample(x, t - 1, s, n), "off by one in t"),
    ("residual_signal", lambda b: float(torch.cumprod(1 - b, 0)[-1]), "missing square root"),
    ("residual_signal", lambda b: float(torch.cumprod(1 - b, 0)[0].sqrt()), "first step"),
    ("residual_signal", lambda b: float((1 - torch.cumprod(1 - b, 0)[-1]).sqrt()), "noise amplitude"),
    ("posterior_mean_variance", lambda x0, xt, t, s: (posterior_mean_variance(x0, xt, t, s)[0], s.betas[t]),
     "the variance is β_t"),
    ("posterior_mean_variance", lambda x0, xt, t, s: posterior_mean_variance(xt, x0, t, s), "swapped"),
    ("posterior_mean_variance",
     lambda x0, xt, t, s: (posterior_mean_variance(x0, xt, t, s)[0], posterior_mean_variance(x0, xt, t, s)[1].sqrt()),
     "standard deviation"),
    ("predict_x0", lambda xt, t, s, e: (xt + (1 - s.alphas_cumprod[t]).sqrt() * e) / s.alphas_cumprod[t].sqrt(),
     "wrong sign"),
    ("predict_x0", lambda xt, t, s, e: (xt - (1 - s.alphas_cumprod[t]) * e) / s.alphas_cumprod[t], "missing square roots"),
    ("predict_x0", lambda xt, t, s, e: predict_x0(xt, t + 1, s, e), "off by one in t"),
    ("ddpm_step", _ddpm_beta_variance, "fixed_large"),
    ("ddpm_step", lambda xt, t, s, e, z: posterior_mean_variance(predict_x0(xt, t, s, e), xt, t, s)[0], "no fresh noise"),
    ("ddpm_step", _ddpm_last_element, "LAST element"),
    ("ddpm_step", lambda xt, t, s, e, z: predict_x0(xt, t, s, e), "you returned x̂_0"),
    ("diffusion_loss", lambda m, x0, t, n, s: torch.nn.functional.mse_loss(
        m(closed_form_sample(x0, t[:, None, None, None], s, n), t), n), "squared error"),
    ("diffusion_loss", lambda m, x0, t, n, s: (m(x0, t) - n).abs().mean(), "not the clean x_0"),
    ("diffusion_loss", lambda m, x0, t, n, s: (m(closed_form_sample(x0, t[:, None, None, None], s, n), t) - x0)
     .abs().mean(), "compare its output with `noise`"),
    ("diffusion_loss", _loss_per_t0, "its own t"),
    ("diffusion_loss", _loss_unshaped, "your function raised RuntimeError"),
    ("diffusion_loss", _loss_unshaped, "A missing .view"),
    ("diffusion_loss", _loss_pixel_sum, "you summed over the pixels of each image"),
    ("diffusion_loss", _loss_batch_sum, "summed the per-image losses over the batch"),
    ("posterior_mean_variance", _pmv_x0_weight_at_t, "the weight of x_0 uses √ᾱ_t"),
    ("ddpm_step", _ddpm_x0_weight_at_t, "the weight of x_0 uses √ᾱ_t"),
    ("ddpm_step", _ddpm_x0_sign, "wrong sign in x̂_0"),
    ("ddim_step", _ddim_x0_sign, "wrong sign in x̂_0"),
    ("eps_x0_from_v", _v_x0_sign, "wrong sign in x0 (your eps is right)"),
    ("predict_x0", lambda xt, t, s, e: ((1 - s.alphas_cumprod[t]).sqrt() * e - xt) / s.alphas_cumprod[t].sqrt(),
     "wrong sign: you wrote √(1−ᾱ_t) ε − x_t"),
    ("eps_x0_from_v", lambda xt, t, s, v: eps_x0_from_v(xt, t, s, v)[::-1], "swapped: return (eps, x0)"),
    ("eps_x0_from_v", lambda xt, t, s, v: eps_x0_from_v(xt, t, s, -v), "wrong sign of the v terms"),
    ("ddim_step", _ddim_last_element, "LAST element"),
    ("ddim_step", _ddim_old_noise, "rescaled for the target step"),
    ("ddim_step", lambda xt, t, tp, s, e: predict_x0(xt, t, s, e), "you returned x̂_0"),
    ("ddim_timesteps", lambda T, k: list(range(T - 1, -1, -(T // k))), "off by one"),
    ("ddim_timesteps", lambda T, k: ddim_timesteps(T, k)[::-1], "wrong order"),
    ("ddim_timesteps", lambda T, k: [int(round(v)) for v in torch.linspace(T - 1, 0, k).tolist()], "'leading' spacing"),
    ("overlap_metrics", lambda p, e: (lambda m: (m[1], m[0], m[2], m[3]))(overlap_metrics(p, e)),
     "precision and recall are swapped"),
    ("overlap_metrics", lambda p, e: (lambda m: (m[0], m[1], m[3], m[2]))(overlap_metrics(p, e)), "Dice and IoU are swapped"),
    ("overlap_metrics", lambda p, e: ((p * e).sum() / p.sum(), (p * e).sum() / e.sum(),
                                      2 * (p * e).sum() / (p.sum() + e.sum()),
                                      (p * e).sum() / (p.sum() + e.sum() - (p * e).sum())), "threshold first"),
    ("overlap_metrics", lambda p, e: (lambda m: (m[0], m[1], m[2] / 2, m[3]))(overlap_metrics(p, e)), "factor 2"),
    ("overlap_metrics", lambda p, e: (lambda m: (m[0], m[1], m[2], m[2] / 2))(overlap_metrics(p, e)), "the UNION"),
    ("overlap_metrics", lambda p, e: (lambda m: (m[0], m[1], float(((p > 0.5) == (e > 0)).mean()), m[3]))(
        overlap_metrics(p, e)), "pixel accuracy"),
    ("ddim_sample", lambda e, x, s, k: _ddim_loop(e, x, s, k, "t-1"), "the bug is still there"),
    ("ddim_sample", lambda e, x, s, k: _ddim_loop(e, x, s, k, "negative"), "Python's element from the END"),
    ("ddim_sample", lambda e, x, s, k: _ddim_loop(e, x, s, k, "eps_at_prev"), "asked at the timestep of the x it sees"),
    ("choose_metric", lambda: "pixel accuracy", "cannot tell a good segmenter from one that finds nothing"),
    ("choose_metric", lambda: "IoU", "answer one of"),
    ("typical_error", lambda: "A", "a lower RMSE does not promise a smaller typical error"),
    ("typical_error", lambda: "B", "the RMSE alone does not tell"),
    ("typical_error", lambda: "depends", "answer one of"),
    ("leak_count", lambda l, tr, te: len(set(l[tr].tolist()) & set(l[te].tolist())), "counted the shared clusters"),
    ("leak_count", lambda l, tr, te: sum(int(l[i]) in set(l[te].tolist()) for i in tr), "the train images"),
    ("leak_count", lambda l, tr, te: sum(int(np.sum(l[tr] == l[i])) for i in te), "(test, train) pairs"),
    ("leak_count", lambda l, tr, te: sum(int(np.sum(l == l[i])) >= 2 for i in te), "only a copy in TRAIN leaks"),
    ("choose_split", lambda: "random", "a random split leaks"),
    ("choose_split", lambda: "by subject, maybe", "answer one of"),
    ("limits_of_agreement", lambda e, p: limits_of_agreement(p, e), "wrong sign"),
    ("limits_of_agreement", lambda e, p: ((p - e).mean(), (p - e).mean() - 1.96 * (p - e).std(),
                                          (p - e).mean() + 1.96 * (p - e).std()), "ddof = 0"),
    ("limits_of_agreement", lambda e, p: ((p - e).mean(), (p - e).mean() - 1.96 * p.std(ddof=1),
                                          (p - e).mean() + 1.96 * p.std(ddof=1)), "SD of the predicted values"),
    ("limits_of_agreement", lambda e, p: ((p - e).mean(), (p - e).mean() - 1.96 * (p - e).std(ddof=1) / len(e) ** 0.5,
                                          (p - e).mean() + 1.96 * (p - e).std(ddof=1) / len(e) ** 0.5), "standard error"),
    ("limits_of_agreement", lambda e, p: ((p - e).mean(), (p - e).mean() - 2 * (p - e).std(ddof=1),
                                          (p - e).mean() + 2 * (p - e).std(ddof=1)), "1.96, not 2"),
    ("ccc", lambda e, p: np.corrcoef(e, p)[0, 1], "Pearson's r"),
    ("ccc", lambda e, p: 2 * np.mean((e - e.mean()) * (p - p.mean())) / (e.var() + p.var()), "term is missing"),
    ("ccc", lambda e, p: 2 * np.cov(e, p)[0, 1] / (e.var() + p.var() + (e.mean() - p.mean()) ** 2), "mixed moments"),
    ("frechet_gaussian", lambda m1, c1, m2, c2: frechet_gaussian(m1, c1, m2, c2) + 2 * np.trace(
        scipy.linalg.sqrtm(c1 @ c2)).real - 2 * np.trace(c1 @ c2), "MATRIX square root"),
    ("frechet_gaussian", lambda m1, c1, m2, c2: frechet_gaussian(m1, c1, m2, c2) + 2 * np.trace(
        scipy.linalg.sqrtm(c1 @ c2)).real - 2 * np.trace(np.sqrt(c1 @ c2)), "each entry"),
    ("frechet_gaussian", lambda m1, c1, m2, c2: frechet_gaussian(m1, c1, m2, c2) + np.trace(
        scipy.linalg.sqrtm(c1 @ c2)).real, "factor 2 is missing"),
    ("frechet_gaussian", lambda m1, c1, m2, c2: frechet_gaussian(m1, c1, m2, c2) - (m1 - m2) @ (m1 - m2),
     "mean term"),
    ("fid_and_n", lambda: "equal", "the TRUE distance is 0"),
    ("fid_and_n", lambda: "n = 2000", "more images make the estimate better"),
]


@pytest.mark.parametrize("name", list(ex.EXERCISES))
def test_check_accepts_the_reference(name, capsys):
    result = _check(name)(SOLUTIONS[name])
    assert result.ok, result.message
    assert "correct" in result.message
    assert result.message in capsys.readouterr().out  # printed for the notebook


@pytest.mark.parametrize("name", list(ex.EXERCISES))
def test_a_stub_is_not_implemented_yet_and_never_raises(name):
    def raises(*args):
        raise NotImplementedError

    for stub in (raises, lambda *args: None):
        result = _check(name)(stub)
        assert not result.ok and "not implemented yet" in result.message
    broken = _check(name)(lambda *args: 1 / 0)
    assert not broken.ok and "ZeroDivisionError" in broken.message and "Hint:" in broken.message
    assert not _check(name)("not a function").ok


@pytest.mark.parametrize("name,wrong,expected", WRONG, ids=[f"{w[0]}-{i}" for i, w in enumerate(WRONG)])
def test_check_names_the_typical_mistake(name, wrong, expected):
    result = _check(name)(wrong)
    assert not result.ok
    assert expected in result.message, result.message
    assert "Hint:" in result.message or "values" in result.message


def test_the_predict_then_run_and_choose_exercises_print_the_measured_numbers(capsys):
    assert ex.check_choose_split(choose_split, labels=np.arange(10) // 2).ok
    out = capsys.readouterr().out
    assert "random half/half split leaves" in out and "the grouped split 0 of" in out
    assert ex.check_fid_and_n(lambda: "20").ok  # "20", "n=20" and "n = 20" all mean the same
    assert "n = 2000: Fréchet" in capsys.readouterr().out


def test_the_overlap_check_shows_what_a_one_pixel_shift_does(capsys):
    from msknb.exercises.segmentation import fixed_masks, reference
    from msknb.segmentation.metrics import segmentation_metrics

    prob, expert = fixed_masks()
    assert 0.3 < reference(prob, expert)[2] < 0.9 and len(segmentation_metrics(prob > 0.5, expert)) == 1
    assert ex.check_overlap_metrics(overlap_metrics).ok
    assert "A one-pixel shift leaves a 3 px-thick band a Dice of 0.67 and a 30 px-thick region 0.97" in capsys.readouterr().out
    assert not ex.check_overlap_metrics(lambda p, e: overlap_metrics(p, e)[::-1]).ok
    assert "one-pixel shift" not in capsys.readouterr().out


def test_the_choose_and_predict_checks_of_05_and_06_show_their_numbers(capsys):
    assert ex.check_choose_metric(lambda: "Dice").ok
    out = capsys.readouterr().out
    assert "a prediction with NO aponeurosis scores pixel accuracy 0.96 and Dice 0.00" in out
    assert ex.check_typical_error(lambda: "Cannot  tell").ok
    out = capsys.readouterr().out
    assert "A has RMSE 5.0 px and B 10.1 px, yet B's median |error| is 1.0 px against A's 5.0" in out
    assert "99 % of B's squared error is its one gross failure" in out


def test_every_exercise_has_two_typical_mistakes_tested():
    counts = {name: sum(w[0] == name for w in WRONG) for name in ex.EXERCISES}
    assert all(n >= 2 for n in counts.values()), counts


def test_ho_algorithm_2_form_of_the_ddpm_step_is_correct_too():
    def alg2(xt, t, s, eps, z):  # x_{t-1} = (x_t − β_t/√(1−ᾱ_t) ε)/√α_t + σ_t z
        mean = (xt - s.betas[t] / (1 - s.alphas_cumprod[t]).sqrt() * eps) / s.alphas[t].sqrt()
        return mean + s.posterior_variance[t].sqrt() * z if t > 0 else mean

    assert ex.check_ddpm_step(alg2).ok


def _cells(notebook: str):
    path = next(NOTEBOOKS_DIR.glob(f"{notebook}_*.ipynb"))
    return json.loads(path.read_text())["cells"]


@pytest.mark.parametrize("notebook", sorted(set(ex.EXERCISES.values())))
def test_notebook_has_its_exercises_each_followed_by_a_hidden_solution(notebook):
    cells = _cells(notebook)
    expected = sorted(n for n, nb in ex.EXERCISES.items() if nb == notebook)
    found = []
    for i, cell in enumerate(cells):
        if "exercise" not in cell["metadata"].get("tags", []):
            continue
        source = "".join(cell["source"])
        name = next(n for n in expected if f"ex.check_{n}({n}" in source)
        assert "NotImplementedError" in source, f"cell {i}: the exercise stub should raise NotImplementedError"
        solution = cells[i + 1]
        assert "solution" in solution["metadata"].get("tags", []), f"cell {i + 1} must be the solution"
        assert solution["metadata"].get("jupyter", {}).get("source_hidden") is True
        assert f"ex.check_{name}({name}" in "".join(solution["source"])
        assert cells[i - 1]["cell_type"] == "markdown", f"cell {i - 1} should state the task"
        found.append(name)
    assert sorted(found) == expected


@pytest.mark.parametrize("path", sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_notebook_says_what_you_learn_need_and_how_long_it_runs(path):
    cell = json.loads(path.read_text())["cells"][1]
    text = "".join(cell["source"])
    assert cell["cell_type"] == "markdown" and text.startswith("## Before you start"), "cell 1: 'Before you start'"
    for needed in ("You will learn", "You need first", "How long it runs", "| smoke | quick | paper |"):
        assert needed in text


def test_the_notebooks_readme_counts_the_exercises_there_are():
    import collections
    import re

    counts = collections.Counter(ex.EXERCISES.values())
    text = (NOTEBOOKS_DIR / "README.md").read_text()
    for nb in (f"{k:02d}" for k in range(8)):
        row = next(line for line in text.splitlines() if line.startswith(f"| {nb} | `{nb}_"))
        assert re.split(r"(?<!\\)\|", row)[5].strip() == (str(counts[nb]) if counts[nb] else "–"), row
        if counts[nb]:
            listed = next(line for line in text.splitlines() if re.match(rf"\| {nb} \| `(?!{nb}_)", line))
            assert sorted(re.findall(r"`(\w+)`", listed)) == sorted(n for n, v in ex.EXERCISES.items() if v == nb)
    assert f"{len(ex.EXERCISES)} in all (" + ", ".join(f"{nb}: {n}" for nb, n in sorted(counts.items())) + ")" in text
