"""Figures and ipywidgets for the diffusion notebooks (01 forward, 02 reverse, 03 training form).

Every interactive explorer has a static twin (``forward_figure``, ``reverse_chain_grid``, …)
so a headless run (papermill, CI) shows the same figure at the parameter values.
Images are (H, W) arrays in [0, 1] (or tensors (1, H, W) / (1, 1, H, W) in [-1, 1] where
stated); pixel units throughout.
"""
from __future__ import annotations

import io
from typing import Any, Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from msknb.ddpm import diffusion as D
from msknb.ddpm.config import LOSSES
from msknb.io import from_model, to_model
from msknb.viz import image_grid

SCHEDULE_KINDS = D.SCHEDULE_KINDS


# --------------------------------------------------------------------------------------
# conversions
# --------------------------------------------------------------------------------------
def to_model_space(image) -> torch.Tensor:
    """Image (H, W) in [0, 1] (numpy or tensor) → tensor (1, 1, H, W) float32 in [-1, 1] (``msknb.io.to_model``)."""
    return to_model(image).reshape(1, 1, *np.shape(image)[-2:])


def to_display(x) -> np.ndarray:
    """Tensor/array in [-1, 1] of shape (H, W), (1, H, W) or (1, 1, H, W) → (H, W) in [0, 1], clipped
    (``msknb.io.from_model``)."""
    a = from_model(x)
    return a.reshape(a.shape[-2], a.shape[-1])


def fig_to_png(fig) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def normal_pdf(x: np.ndarray, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """Density of N(mean, std²) at x."""
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))


# --------------------------------------------------------------------------------------
# 01: forward process
# --------------------------------------------------------------------------------------
def forward_figure(image, schedule: D.Schedule, t: int, seed: int = 0):
    r"""Matplotlib figure with three panels for one timestep ``t`` (0-based):
    the clean image x_0, the noisy :math:`x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\varepsilon`
    (shown on [-1, 1] → [0, 1]) and the histogram of the values of x_t against the N(0, 1) pdf
    and the Gaussian N(√ᾱ_t·mean(x_0), 1−ᾱ_t + ᾱ_t·var(x_0)) that Eq. 2 predicts.
    ``image`` (H, W) in [0, 1]. The noise is drawn with ``seed`` (fixed across t, so the
    image fades smoothly as t moves)."""
    t = int(min(max(t, 0), schedule.timesteps - 1))
    x0 = to_model_space(image)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    xt = D.q_sample(schedule, x0, t, noise)
    ab = float(schedule.alphas_cumprod[t])
    fig, ax = plt.subplots(1, 3, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1, 1, 1.4]})
    ax[0].imshow(to_display(x0), cmap="gray", vmin=0, vmax=1)
    ax[0].set_title(r"$x_0$ (clean)")
    ax[1].imshow(to_display(xt), cmap="gray", vmin=0, vmax=1)
    ax[1].set_title(f"$x_t$, t = {t}")
    for a in ax[:2]:
        a.axis("off")
    v = xt.flatten().numpy()
    grid = np.linspace(-4, 4, 200)
    ax[2].hist(v, bins=60, range=(-4, 4), density=True, color="tab:blue", alpha=0.6, label=r"values of $x_t$")
    ax[2].plot(grid, normal_pdf(grid), "k--", lw=1.5, label="N(0, 1)")
    m0, v0 = float(x0.mean()), float(x0.var())
    ax[2].plot(grid, normal_pdf(grid, np.sqrt(ab) * m0, np.sqrt(1 - ab + ab * v0)), "r-", lw=1,
               label="Eq. 2 prediction")
    ax[2].set_xlim(-4, 4)
    ax[2].set_title(rf"$\bar\alpha_t$ = {ab:.4f}   SNR = {10 * np.log10(ab / (1 - ab)):.1f} dB   "
                    f"mean {v.mean():+.2f} std {v.std():.2f}", fontsize=8)
    ax[2].legend(fontsize=7, loc="upper right")
    fig.suptitle(rf"forward diffusion $q(x_t | x_0)$, {schedule.kind} schedule, T = {schedule.timesteps}", fontsize=10)
    fig.tight_layout()
    return fig


def noising_grid(image, schedule: D.Schedule, ts: Sequence[int], seed: int = 0):
    """Figure: x_t for each t in ``ts`` (one noise draw), titled with t and ᾱ_t. ``image`` (H, W) in [0, 1]."""
    x0 = to_model_space(image)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    ims, titles = [], []
    for t in ts:
        t = int(t)
        ims.append(to_display(D.q_sample(schedule, x0, t, noise)))
        titles.append(rf"t={t}  $\bar\alpha$={float(schedule.alphas_cumprod[t]):.3f}")
    return image_grid(ims, titles=titles, ncols=len(ims), size=1.9,
                      suptitle=rf"$x_t = \sqrt{{\bar\alpha_t}}\,x_0 + \sqrt{{1-\bar\alpha_t}}\,\epsilon$  ({schedule.kind}, T={schedule.timesteps})")


def schedules_figure(timesteps: int = 300, kinds: Sequence[str] = SCHEDULE_KINDS):
    """Plotly figure, two panels: ᾱ_t and SNR(t) = ᾱ_t/(1−ᾱ_t) on a log axis, for each schedule
    kind, against t/T."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("ᾱ_t (signal power kept)", "SNR(t) = ᾱ_t / (1 − ᾱ_t)"))
    for i, kind in enumerate(kinds):
        s = D.make_schedule(kind, timesteps)
        x = np.arange(timesteps)
        color = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"][i % 5]
        fig.add_trace(go.Scatter(x=x, y=s.alphas_cumprod.numpy(), name=kind, line=dict(color=color),
                                 legendgroup=kind), row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=s.snr.numpy(), name=kind, line=dict(color=color), legendgroup=kind,
                                 showlegend=False), row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=2, exponentformat="power")
    fig.update_xaxes(title_text="t")
    fig.update_layout(height=360, width=900, title=f"noise schedules, T = {timesteps}")
    return fig


def forward_explorer(image, schedule: str = "linear", timesteps: int = 300, t: int | None = None, seed: int = 0,
                     timestep_options: Sequence[int] = (50, 100, 300, 1000)):
    """Interactive :func:`forward_figure`: an IntSlider ``t``, a Dropdown ``schedule`` and a
    Dropdown ``T`` (number of timesteps); the figure (x_0, x_t, histogram) redraws live.

    ``image`` (H, W) in [0, 1]. Returns the ipywidgets VBox (display it as the last line of a cell).
    """
    options = sorted(set(int(v) for v in timestep_options) | {int(timesteps)})
    t0 = timesteps // 2 if t is None else int(t)
    w_t = widgets.IntSlider(value=min(t0, timesteps - 1), min=0, max=timesteps - 1, step=1, description="t",
                            continuous_update=False)
    w_kind = widgets.Dropdown(options=list(SCHEDULE_KINDS), value=schedule, description="schedule")
    w_T = widgets.Dropdown(options=options, value=int(timesteps), description="T")
    out = widgets.Image(format="png")
    cache: dict = {}

    def schedule_of(kind: str, T: int) -> D.Schedule:
        if (kind, T) not in cache:
            cache[(kind, T)] = D.make_schedule(kind, T)
        return cache[(kind, T)]

    def redraw(*_):
        out.value = fig_to_png(forward_figure(image, schedule_of(w_kind.value, w_T.value), w_t.value, seed=seed))

    def on_T(change):
        # keep the same fraction t/T when T changes
        frac = w_t.value / max(1, w_t.max)
        w_t.max = change["new"] - 1
        w_t.value = int(round(frac * w_t.max))
        redraw()

    w_t.observe(redraw, names="value")
    w_kind.observe(redraw, names="value")
    w_T.observe(on_T, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([w_t, w_kind, w_T]), out])


# --------------------------------------------------------------------------------------
# 02: reverse process
# --------------------------------------------------------------------------------------
def posterior_figure(image, schedule: D.Schedule, t: int, seed: int = 0):
    r"""Figure of the forward posterior :math:`q(x_{t-1}|x_t, x_0) = \mathcal N(\tilde\mu_t, \tilde\beta_t I)`
    at timestep ``t``: x_0, x_t, the posterior mean μ̃_t, one sample x_{t−1} = μ̃_t + √β̃_t z, and
    a line plot of the two mean coefficients and √β̃_t over all t (marker at ``t``)."""
    g = torch.Generator().manual_seed(seed)
    x0 = to_model_space(image)
    xt = D.q_sample(schedule, x0, t, generator=g)
    mean, var, _ = D.posterior_mean_variance(schedule, x0, xt, t)
    sample = mean + var.sqrt() * torch.randn(x0.shape, generator=g)
    fig = plt.figure(figsize=(12, 3.0))
    gs = fig.add_gridspec(1, 5, width_ratios=[1, 1, 1, 1, 1.8])
    for i, (im, title) in enumerate([(x0, r"$x_0$"), (xt, f"$x_t$ (t={t})"), (mean, r"posterior mean $\tilde\mu_t$"),
                                     (sample, r"$x_{t-1} \sim q(\cdot|x_t, x_0)$")]):
        a = fig.add_subplot(gs[0, i])
        a.imshow(to_display(im), cmap="gray", vmin=0, vmax=1)
        a.set_title(title, fontsize=9)
        a.axis("off")
    a = fig.add_subplot(gs[0, 4])
    ts = np.arange(schedule.timesteps)
    a.plot(ts, schedule.posterior_mean_coef1.numpy(), label=r"coef of $x_0$")
    a.plot(ts, schedule.posterior_mean_coef2.numpy(), label=r"coef of $x_t$")
    a.plot(ts, schedule.posterior_variance.sqrt().numpy(), label=r"std $\sqrt{\tilde\beta_t}$")
    a.axvline(t, color="k", lw=0.8, ls=":")
    a.set_xlabel("t")
    a.set_yscale("log")
    a.set_title(rf"t={t}: $\tilde\mu$ = {float(schedule.posterior_mean_coef1[t]):.3f}·$x_0$ + "
                f"{float(schedule.posterior_mean_coef2[t]):.3f}·$x_t$, std {float(var.sqrt().flatten()[0]):.3f}",
                fontsize=8)
    a.legend(fontsize=7)
    fig.tight_layout()
    return fig


def trajectory_grid(trajectory, n: int = 8, title: str | None = None, index: int = 0):
    """Figure with two rows: x_t and the model's x̂_0 prediction at ``n`` timesteps spread along a
    trajectory from :func:`msknb.ddpm.diffusion.ddpm_sample_loop` / ``ddim_sample_loop``
    (list of ``(t, x_t, x0_pred)``), for batch element ``index``."""
    pick = np.unique(np.linspace(0, len(trajectory) - 1, min(n, len(trajectory))).round().astype(int))
    fig, ax = plt.subplots(2, len(pick), figsize=(1.6 * len(pick), 3.5), squeeze=False)
    for j, k in enumerate(pick):
        t, xt, x0p = trajectory[k]
        for i, (im, lab) in enumerate([(xt, "$x_t$"), (x0p, r"$\hat{x}_0$")]):
            ax[i, j].imshow(to_display(im[index]), cmap="gray", vmin=0, vmax=1)
            ax[i, j].set_xticks([])
            ax[i, j].set_yticks([])
            if j == 0:
                ax[i, j].set_ylabel(lab)
        ax[0, j].set_title(f"t={t}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def reverse_stepper(x0, schedule: D.Schedule, denoise_fn: Callable | None = None, seed: int = 0,
                    start_t: int | None = None):
    """Step a DDPM reverse chain by hand: a Button ``step`` (one t → t−1), an IntText ``steps per
    click``, a Button ``reset``, and an image of [x_t | x̂_0 | x_0].

    ``x0`` (1, 1, H, W) in [-1, 1] is the image the chain starts from (noised to ``start_t``,
    default T−1) and is shown for reference; ``denoise_fn(x_t, t) -> eps`` defaults to
    :func:`msknb.ddpm.diffusion.oracle_denoiser` (exact noise). Returns the ipywidgets VBox; its
    ``.state`` dict holds the current ``t`` and ``x_t``.
    """
    fn = denoise_fn or D.oracle_denoiser(schedule, x0)
    T0 = schedule.timesteps - 1 if start_t is None else int(start_t)
    b_step = widgets.Button(description="step", button_style="primary")
    b_reset = widgets.Button(description="reset")
    n_per = widgets.BoundedIntText(value=1, min=1, max=schedule.timesteps, description="steps per click")
    label = widgets.HTML()
    img = widgets.Image(format="png")
    state: dict = {}

    def draw(x0_pred):
        fig, ax = plt.subplots(1, 3, figsize=(6.5, 2.4))
        for a, im, title in zip(ax, [state["x_t"], x0_pred, x0], [f"$x_t$, t = {state['t']}" if state["t"] >= 0 else "chain output", r"$\hat{x}_0$ (prediction)", r"$x_0$ (true)"]):
            a.imshow(to_display(im[0]), cmap="gray", vmin=0, vmax=1)
            a.set_title(title, fontsize=9)
            a.axis("off")
        img.value = fig_to_png(fig)
        err = float((x0_pred - x0).abs().mean())
        label.value = f"t = {state['t']} &nbsp; mean |x̂_0 − x_0| = {err:.4f}"

    def reset(*_):
        state["g"] = torch.Generator().manual_seed(seed)
        state["t"] = T0
        state["x_t"] = D.q_sample(schedule, x0, T0, generator=state["g"])
        with torch.no_grad():
            eps = fn(state["x_t"], torch.full((x0.shape[0],), T0, dtype=torch.long))
        draw(D.predict_x0(schedule, state["x_t"], T0, eps))

    def step(*_):
        x0_pred = None
        for _ in range(n_per.value):
            if state["t"] < 0:
                break
            t = state["t"]
            with torch.no_grad():
                eps = fn(state["x_t"], torch.full((x0.shape[0],), t, dtype=torch.long))
                state["x_t"], x0_pred = D.ddpm_step(schedule, eps, state["x_t"], t, generator=state["g"],
                                                    return_x0=True)
            state["t"] = t - 1
        if x0_pred is not None:
            draw(x0_pred)

    b_step.on_click(step)
    b_reset.on_click(reset)
    reset()
    box = widgets.VBox([widgets.HBox([b_step, n_per, b_reset]), label, img])
    box.state = state
    box.step = step
    box.reset = reset
    return box


# --------------------------------------------------------------------------------------
# 03: training form
# --------------------------------------------------------------------------------------
def training_form(on_train: Callable[[dict[str, Any]], Any], defaults: dict[str, Any]):
    """An ipywidgets form (timesteps, schedule, loss, lr, batch size, image size, epochs)
    with a *Train* button calling ``on_train(values)``; its output appears below the form.
    Returns the ``VBox`` (display it). ``defaults`` = settings("ddpm", ...)."""
    style = {"description_width": "110px"}
    w = {
        "timesteps": widgets.IntSlider(value=defaults["timesteps"], min=10, max=1000, step=10,
                                       description="timesteps T", style=style),
        "schedule": widgets.Dropdown(options=list(D.SCHEDULE_KINDS), value=defaults["schedule"],
                                     description="schedule", style=style),
        "loss": widgets.Dropdown(options=list(LOSSES), value=defaults["loss"], description="loss", style=style),
        "lr": widgets.FloatLogSlider(value=defaults["lr"], base=10, min=-5, max=-2, description="learning rate",
                                     style=style),
        "batch_size": widgets.IntSlider(value=defaults["batch_size"], min=1, max=64, description="batch size",
                                        style=style),
        "image_size": widgets.Dropdown(options=[32, 64, 128, 256], value=defaults["image_size"],
                                       description="image size", style=style),
        "epochs": widgets.IntSlider(value=defaults["epochs"], min=1, max=300, description="epochs", style=style),
    }
    button = widgets.Button(description="Train", button_style="primary", icon="play")
    output = widgets.Output()

    def clicked(_):
        with output:
            output.clear_output()
            on_train({k: v.value for k, v in w.items()})

    button.on_click(clicked)
    return widgets.VBox([*w.values(), button, output])
