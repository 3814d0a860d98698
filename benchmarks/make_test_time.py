"""Time ``make test`` the way CI runs it: a fresh clone of this repository (``../shared``
beside it), ``make install`` (the venv, timed alone), then ``CI=true bash .ci/run``.

Writes ``benchmarks/results/make_test.json``: install and test seconds, their sum, pytest's
own summary line, the commit and the machine. Run it on an idle machine; the clone is
deleted afterwards (``--keep`` keeps it)::

    python benchmarks/make_test_time.py            # ~5 min on 2 cores
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from msknb.io import write_json_atomic
from msknb.runner.machine import machine_info

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "benchmarks" / "results"


def _folder_mib(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1) if path.is_dir() else 0.0


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return round(time.perf_counter() - start, 1), proc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(RESULTS / "make_test.json"))
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"), help="the shared folder to link beside the clone")
    ap.add_argument("--keep", action="store_true", help="keep the clone")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="msknb-ci-"))
    clone = work / "repo"
    try:
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        os.symlink(Path(args.shared).resolve(), work / "shared")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
        uv_cache = Path(env.get("UV_CACHE_DIR") or Path.home() / ".cache" / "uv")
        cache_mib = _folder_mib(uv_cache)  # "install included where the wheels are cached"
        install_s, install = _timed(["make", "install"], clone, env)
        test_s, test = _timed(["bash", ".ci/run"], clone, {**env, "CI": "true"})
        summary = next((ln for ln in reversed(test.stdout.splitlines()) if re.search(r"\d+ (passed|failed)", ln)), "")
        result = {"benchmark": "make test from a fresh clone (issue 16)", "commit": commit,
                  "measured": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine_info(),
                  "install_seconds": install_s, "install_with": "uv" if "installed with uv" in install.stdout else "pip",
                  "uv_cache_before_mib": cache_mib,
                  "test_seconds": test_s, "total_seconds": round(install_s + test_s, 1),
                  "target_seconds": 360, "ok": install.returncode == 0 and test.returncode == 0,
                  "pytest_summary": summary.strip("= ")}
        print(write_json_atomic(args.out, result))
        print(result)
        if not result["ok"]:
            print((install.stdout + install.stderr)[-3000:], (test.stdout + test.stderr)[-6000:], sep="\n")
        return 0 if result["ok"] else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
