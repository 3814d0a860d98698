"""The core of every exercise check: run the student's function on fixed inputs, compare with
the reference from :mod:`msknb.ddpm.diffusion`, and say in plain words what differs.

A check never raises (a headless run of a notebook executes the exercise stubs): a stub that
raises ``NotImplementedError`` or returns ``None`` gets a kind "not implemented yet"; any other
exception is reported with its message. The verdict is printed and returned as a
:class:`CheckResult`.

Order of the diagnosis: not implemented → raised → a known typical mistake of this exercise
(:class:`Mistake`, matched by value; :class:`Raised`, matched by the exception) → wrong type → wrong shape → NaN/inf → wrong sign → a
constant factor → "values differ"; every wrong answer ends with the exercise's hint.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from msknb.ddpm import diffusion as D

#: relative / absolute tolerance of "the same number" (float32 maths, float64 comparison)
RTOL = 1e-4
ATOL = 1e-5


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one exercise: ``ok`` True when correct; ``message`` the plain-words answer."""

    exercise: str
    ok: bool
    message: str

    def __repr__(self) -> str:
        return f"CheckResult(exercise={self.exercise!r}, ok={self.ok})"

    def _ipython_display_(self) -> None:
        """Show nothing: the message was printed when the check ran (showing it twice confuses)."""


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer: ``answer`` is what that mistake returns on the check's inputs."""

    answer: Any
    message: str


@dataclass(frozen=True)
class Raised:
    """A typical mistake that raises instead of returning: an exception of type ``kind`` whose
    message contains ``contains`` gets ``message`` (instead of the bare exception text)."""

    kind: type
    contains: str
    message: str


@dataclass(frozen=True)
class Part:
    """One returned value: ``name`` for messages; ``broadcast`` accepts any shape that broadcasts
    to the expected one with the same values (a variance as a 0-d tensor or as (B, 1, 1, 1));
    ``rtol`` the relative tolerance (looser where float32 cannot do better, e.g. ᾱ/(1−ᾱ) near ᾱ = 1)."""

    name: str
    broadcast: bool = False
    rtol: float = RTOL


def _as_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float64)
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None


def _same(got: torch.Tensor, want: torch.Tensor, broadcast: bool, rtol: float = RTOL) -> bool:
    if got.shape != want.shape:
        if not broadcast:
            return False
        try:
            got = got.broadcast_to(want.shape) if got.numel() <= want.numel() else got
            want = want.broadcast_to(got.shape)
        except RuntimeError:
            return False
    return bool(torch.allclose(got, want, rtol=rtol, atol=ATOL))


def _shape_problem(got: torch.Tensor, want: torch.Tensor, part: Part) -> str | None:
    if got.shape == want.shape:
        return None
    if part.broadcast:
        try:
            torch.broadcast_shapes(got.shape, want.shape)
            return None
        except RuntimeError:
            pass
    return f"wrong shape: {part.name} has shape {tuple(got.shape)}, expected {tuple(want.shape)}."


def _factor(got: torch.Tensor, want: torch.Tensor) -> float | None:
    """c when got ≈ c · want for one constant c (≠ 1, ≠ -1), else None."""
    big = want.abs() > 1e-6
    if not bool(big.any()) or got.shape != want.shape:
        return None
    ratio = got[big] / want[big]
    c = float(ratio.median())
    if abs(c) < 1e-12 or abs(abs(c) - 1) < 1e-3:
        return None
    return c if bool(torch.allclose(got, c * want, rtol=RTOL, atol=ATOL)) else None


def _compare_part(got_raw: Any, want: torch.Tensor, part: Part) -> str | None:
    """What is wrong with one returned value, or None when it is right."""
    got = _as_tensor(got_raw)
    if got is None:
        return f"{part.name} is a {type(got_raw).__name__}; expected a tensor (or a number)."
    shape = _shape_problem(got, want, part)
    if shape:
        return shape
    if not bool(torch.isfinite(got).all()):
        return (f"{part.name} contains NaN or inf: a division by zero (1 - ᾱ is 0 where ᾱ = 1) "
                "or the square root of a negative number?")
    if _same(got, want, part.broadcast, part.rtol):
        return None
    if _same(-got, want, part.broadcast, part.rtol):
        return f"wrong sign: {part.name} is the negative of the right answer. Check the + and - in the formula."
    c = _factor(got, want)
    if c is not None:
        return f"{part.name} is {c:.4g} times the right answer: a constant factor is missing or extra."
    diff = float((got.broadcast_to(want.shape) if part.broadcast else got).sub(want).abs().max())
    return f"{part.name} differs from the reference (largest difference {diff:.3g})."


def _matches(got: Sequence[Any], answer: Sequence[Any], parts: Sequence[Part]) -> bool:
    for g, a, part in zip(got, answer, parts):
        g, a = _as_tensor(g), _as_tensor(a)
        if g is None or a is None or not _same(g, a, part.broadcast, part.rtol):
            return False
    return True


def _call(student_fn: Callable, args: Sequence[Any],
          raised: Sequence[Raised] = ()) -> tuple[Any, str | None]:
    """(returned value, None) or (None, why it could not be used); an exception that matches one
    of ``raised`` is explained by that mistake's message."""
    if not callable(student_fn):
        return None, f"expected your function, got a {type(student_fn).__name__}."
    try:
        return student_fn(*args), None
    except NotImplementedError:
        return None, "not_implemented"
    except Exception as err:  # a check must never raise: the student's code may do anything
        text = f"your function raised {type(err).__name__}: {err}"
        for known in raised:
            if isinstance(err, known.kind) and known.contains in str(err):
                return None, f"{text}. {known.message}"
        return None, text


def _verdict(exercise: str, ok: bool, text: str, mark: str | None = None) -> CheckResult:
    mark = mark or ("✓" if ok else "✗")
    return CheckResult(exercise, ok, f"{mark} {exercise}: {text}")


def show(result: CheckResult) -> CheckResult:
    """Print the verdict and hand it back (what every ``check_<name>`` returns)."""
    print(result.message)
    return result


def where(result: CheckResult, place: str) -> CheckResult:
    """``result`` with ``place`` (e.g. "at t = 0, the last step") said after the exercise name,
    for checks that try a second input once the first is right."""
    if result.ok or "not implemented yet" in result.message:
        return result
    head = f" {result.exercise}: "
    return CheckResult(result.exercise, False, result.message.replace(head, f"{head}{place}: ", 1))


def not_implemented(exercise: str) -> CheckResult:
    """The kind answer to a stub: nothing is wrong yet, there is just nothing to check."""
    return _verdict(exercise, False,
                    "not implemented yet. Fill in the function above and run the cell again "
                    "(the solution is in the collapsed cell below).", mark="✎")


@dataclass(frozen=True)
class Case:
    """The fixed inputs most checks use: the paper's schedule (linear, T = 300), a batch of
    3 tiny images ``x0`` (3, 1, 4, 4) in [-1, 1], two standard-normal tensors ``noise`` and
    ``z`` like x0, and a middle timestep ``t`` = 120 (0-based)."""

    sched: D.Schedule
    x0: torch.Tensor
    noise: torch.Tensor
    z: torch.Tensor
    t: int


def fixed_case(seed: int = 0) -> Case:
    """The :class:`Case` of every check (the same numbers on every run)."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand((3, 1, 4, 4), generator=g) * 2 - 1
    noise = torch.randn((3, 1, 4, 4), generator=g)
    z = torch.randn((3, 1, 4, 4), generator=g)
    return Case(D.make_schedule("linear", 300), x0, noise, z, 120)


def run_check(exercise: str, student_fn: Callable, args: Sequence[Any], expected: Any,
              mistakes: Sequence[Mistake] = (), hint: str = "",
              parts: Sequence[Part] | None = None, rtol: float = RTOL,
              raised: Sequence[Raised] = ()) -> CheckResult:
    """Run ``student_fn(*args)`` and compare with ``expected`` (a value, or a tuple of values
    described by ``parts``); return the verdict (not printed: pass it to :func:`show`).
    ``mistakes`` are tried in order when the answer is wrong; ``hint`` ends every message;
    ``rtol`` is the tolerance of a single returned value (``parts`` carry their own)."""
    single = parts is None
    parts = [Part("your result", rtol=rtol)] if single else list(parts)
    want = [expected] if single else list(expected)
    got, problem = _call(student_fn, args, raised)
    if problem == "not_implemented" or (problem is None and got is None):
        return not_implemented(exercise)
    if problem:
        return _verdict(exercise, False, f"{problem} Hint: {hint}")
    got = [got] if single else got
    if not single and (not isinstance(got, (tuple, list)) or len(got) != len(parts)):
        names = ", ".join(p.name for p in parts)
        return _verdict(exercise, False, f"return {len(parts)} values ({names}) as a tuple.")
    found = [_compare_part(g, _as_tensor(w), p) for g, w, p in zip(got, want, parts)]
    if not any(found):
        return _verdict(exercise, True, "correct!")
    for mistake in mistakes:
        answer = [mistake.answer] if single else list(mistake.answer)
        if _matches(got, answer, parts):
            return _verdict(exercise, False, f"{mistake.message} Hint: {hint}")
    first = next(f for f in found if f)
    return _verdict(exercise, False, f"{first} Hint: {hint}")


def ask_choice(exercise: str, student_fn: Callable, hint: str) -> tuple[Any, CheckResult | None]:
    """Call a "predict" or "choose" exercise's function (no arguments): ``(answer, None)``, or
    ``(None, verdict)`` already shown when it is a stub, raised or is not a function."""
    got, problem = _call(student_fn, ())
    if problem == "not_implemented" or (problem is None and got is None):
        return None, show(not_implemented(exercise))
    if problem:
        return None, show(_verdict(exercise, False, f"{problem} Hint: {hint}"))
    return got, None
