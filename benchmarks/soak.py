"""Soak check of the main job (issue 17): the series run many times in a row, each started
the way users start it; counts passes, hangs, retries and the slowest run.

    python benchmarks/soak.py --smoke-runs 10 --quick-runs 3 --ways make,module,nostdin,nohup \\
        --out /tmp/soak --json benchmarks/results/soak.json

Start ways (round-robin over the runs of each profile):
  make     ``make main PROFILE=... OUT=...`` in a pseudo-terminal (``script``), as from a shell
           (``-o .venv/.msknb-installed``: never reinstalls the venv during a soak);
  module   ``python -m msknb run`` in a pseudo-terminal;
  nostdin  ``python -m msknb run`` with stdin closed (``exec 0<&-``), output to a file;
  nohup    ``setsid nohup python -m msknb run`` detached, output to a file.
A run that passes its watchdog (the sum of the notebooks' fitted cell timeouts, so the
runner's own timeouts fire first) is killed and counted as a hang. The JSON is rewritten
after every run, so an interrupted soak still leaves its numbers.
"""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from msknb.artifacts import read_index
from msknb.errors import RunIndexError
from msknb.io import write_json_atomic
from msknb.runner.kernel_timeouts import cell_timeout_s
from msknb.runner.machine import machine_info
from msknb.runner.series import list_notebooks

ROOT = Path(__file__).resolve().parents[1]
WAYS = ("make", "module", "nostdin", "nohup")
PY = str(ROOT / ".venv" / "bin" / "python")


def command(way: str, profile: str, out: Path) -> str:
    """The shell command that starts one series ``way`` (see the module doc)."""
    run = f"{shlex.quote(PY)} -m msknb run --profile {profile} --out {shlex.quote(str(out))}"
    if way == "make":
        inner = f"make -o .venv/.msknb-installed main PROFILE={profile} OUT={shlex.quote(str(out))}"
        return f"script -q -e -c {shlex.quote(inner)} /dev/null"
    if way == "module":
        return f"script -q -e -c {shlex.quote(run)} /dev/null"
    if way == "nostdin":
        return f"exec 0<&- ; {run}"
    if way == "nohup":
        return f"setsid -w nohup {run}"
    raise SystemExit(f"unknown way {way!r}; known: {', '.join(WAYS)}")


def watchdog_s(profile: str) -> float:
    """Seconds after which a series counts as hung: the notebooks' cell timeouts summed."""
    return float(sum(cell_timeout_s(p.stem, profile) or 3600 for p in list_notebooks()))


def _index(out: Path) -> dict:
    """The series' index.json (``{}`` when it wrote none or a killed run left it unreadable)."""
    try:
        return read_index(out) or {}
    except RunIndexError:
        return {}


def one_run(way: str, profile: str, out: Path, log: Path) -> dict:
    """Start one series, wait for it (or kill it at the watchdog), summarise index.json."""
    cmd, limit = command(way, profile, out), watchdog_s(profile)
    load_before, start = os.getloadavg()[0], time.perf_counter()
    with open(log, "wb") as fh:
        proc = subprocess.Popen(["bash", "-c", cmd], cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc, hung = proc.wait(timeout=limit), False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc, hung = proc.wait(), True
    seconds = round(time.perf_counter() - start, 1)
    nbs = _index(out).get("notebooks", [])
    failed = [nb for nb in nbs if nb.get("status") == "failed"]
    return {"way": way, "profile": profile, "command": cmd, "out": str(out), "log": str(log),
            "status": "hang" if hung else ("pass" if rc == 0 and nbs and not failed else "fail"),
            "rc": rc, "seconds": seconds, "watchdog_s": limit,
            "retries": sum(nb.get("retries", 0) for nb in nbs),
            "retried": [f"{nb['name']}: {nb.get('retry_reason')}" for nb in nbs if nb.get("retries")],
            "cell_hangs": sum(nb.get("hangs", 0) for nb in nbs),
            "error": failed[0]["name"] + ": " + (failed[0].get("error") or "")[:2000] if failed else None,
            "notebook_seconds": {nb["name"]: nb.get("seconds") for nb in nbs},
            "load_avg_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


def summary(runs: list[dict]) -> dict:
    """Counts per profile: runs, passes, failures, hangs (runs killed by the watchdog, and
    cells the runner stopped), retries, the slowest run."""
    out = {}
    for profile in sorted({r["profile"] for r in runs}):
        rs = [r for r in runs if r["profile"] == profile]
        slow = max(rs, key=lambda r: r["seconds"])
        out[profile] = {"runs": len(rs), "passes": sum(r["status"] == "pass" for r in rs),
                        "failures": sum(r["status"] == "fail" for r in rs),
                        "hangs": sum(r["status"] == "hang" for r in rs),
                        "cell_hangs_caught_by_runner": sum(r["cell_hangs"] for r in rs),
                        "retries": sum(r["retries"] for r in rs),
                        "ways": sorted({r["way"] for r in rs}),
                        "slowest": {"seconds": slow["seconds"], "way": slow["way"], "out": slow["out"]}}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke-runs", type=int, default=10)
    ap.add_argument("--quick-runs", type=int, default=3)
    ap.add_argument("--ways", default=",".join(WAYS), help="comma-separated: " + ", ".join(WAYS))
    ap.add_argument("--out", default="/tmp/soak", help="folder for the runs' outputs and logs")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "soak.json"))
    args = ap.parse_args(argv)
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    for w in ways:
        command(w, "smoke", Path("."))  # unknown way -> exit now, not after an hour
    record = {"what": "issue 17 soak: the series run repeatedly, started the ways users start it (benchmarks/soak.py)",
              "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine_info(), "ways": ways,
              "planned": {"smoke": args.smoke_runs, "quick": args.quick_runs}, "runs": []}
    plan = [("smoke", i) for i in range(args.smoke_runs)] + [("quick", i) for i in range(args.quick_runs)]
    for profile, i in plan:
        way = ways[i % len(ways)]
        out = Path(args.out) / f"{profile}_{i:02d}_{way}"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        out.mkdir(parents=True)
        run = one_run(way, profile, out, out.with_suffix(".log"))
        record["runs"].append(run)
        record["summary"] = summary(record["runs"])
        write_json_atomic(args.json, record)
        print(f"{profile} #{i} {way}: {run['status']} in {run['seconds']} s, retries {run['retries']}, "
              f"load {run['load_avg_1min']['after']}", flush=True)
    s = record["summary"]
    return 0 if all(v["hangs"] == 0 and v["failures"] == 0 for v in s.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
