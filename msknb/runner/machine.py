"""What a measurement ran on and how it was started: the CPU model, the machine, the torch
device's name, and the command line that reproduces a benchmark run. Every timing the kit
stores (the runner's times, the benchmarks' JSON) records these."""
from __future__ import annotations

import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

import psutil
import torch

from msknb.paths import REPO_ROOT

#: thread variables a command line records when they are set
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """The machine a time was measured on: ``cpu_model``, ``cpu_count`` (logical CPUs),
    ``cpus_usable`` (those this process may use), ``memory_gib``, ``python``, ``torch``,
    ``platform``."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "cpus_usable": usable,
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform()}


def device_name(device: torch.device) -> str:
    """A CUDA device's name, or the CPU model with this process's torch threads."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()} ({torch.get_num_threads()} torch threads)"


def command_line(script: str | Path, argv: Sequence[str]) -> str:
    """The shell command, run from the repository root, that repeats ``script argv``: the
    thread variables set now, this interpreter (repository-relative when inside it), the
    script (repository-relative), the arguments, each shell-quoted."""
    exe, path = Path(sys.executable), Path(script).absolute()
    python = str(exe.relative_to(REPO_ROOT)) if exe.is_relative_to(REPO_ROOT) else exe.name
    where = str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
    env = [f"{k}={os.environ[k]}" for k in THREAD_VARIABLES if k in os.environ]
    return " ".join(shlex.quote(str(a)) for a in [*env, python, where, *argv])
