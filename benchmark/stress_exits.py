"""Stress the data-stage commands' exits: run each many times on tiny and count the aborts.

On demand, not in the test suite (hours on 2 cores at the default 200 runs per command):

    python -m benchmark.stress_exits --runs 200 --jobs 2             # the console script's exit
    python -m benchmark.stress_exits --runs 200 --jobs 2 --exit teardown   # plain interpreter teardown

`clean` runs `python -m benchmark.cli`, which ends like the `kuailive-bench` console script
(`benchmark.cli.entry`); `teardown` calls `main` and lets the interpreter tear down, as the console
script did before (the exit apache/arrow#34314 aborts now and then). `--jobs 2` keeps both cores busy:
the abort shows under load.
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from tabulate import tabulate
from tqdm import tqdm

REPO = Path(__file__).resolve().parent.parent
COMMANDS = ("data", "ingest", "split", "features", "tasks")
LAUNCH = {"clean": [sys.executable, "-m", "benchmark.cli"],
          "teardown": [sys.executable, "-c",
                       "import sys; from benchmark.cli import main; sys.exit(main(sys.argv[1:]))"]}


def stage_args(command: str, work: Path, out: Path) -> list[str]:
    """The arguments of one data-stage command reading work/'s chain and writing to out."""
    params = ["--params", str(work / "params.yaml")]
    d = {k: str(work / k) for k in ("raw", "processed", "split", "features")}
    return {"data": ["data", *params, "--out", str(out)],
            "ingest": ["ingest", "--source", d["raw"], "--out", str(out)],
            "split": ["split", "--processed", d["processed"], "--out", str(out), *params],
            "features": ["features", "--processed", d["processed"], "--split", d["split"], "--out", str(out), *params],
            "tasks": ["tasks", "--processed", d["processed"], "--split", d["split"], "--features", d["features"],
                      "--out", str(out), *params]}[command]


def prepare(work: Path, preset: str) -> None:
    """The tiny chain every command reads: raw, processed, split, features."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["dataset"] = f"sim-{preset}-s0"
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    for command in COMMANDS[:-1]:
        out = work / {"data": "raw", "ingest": "processed"}.get(command, command)
        subprocess.run([*LAUNCH["clean"], *stage_args(command, work, out), "--quiet"], cwd=REPO, check=True)


def run_once(launch: list[str], command: str, work: Path, slots: queue.Queue) -> tuple[int, bool]:
    """(exit code, whether stderr carries the C++ terminate message) of one run, into a free output slot."""
    slot = slots.get()
    try:
        args = stage_args(command, work, work / f"{command}-out{slot}")
        p = subprocess.run([*launch, *args, "--quiet"], cwd=REPO, capture_output=True, text=True)
    finally:
        slots.put(slot)
    return p.returncode, "terminate called" in p.stderr


def stress(command: str, runs: int, jobs: int, exit_mode: str, work: Path, quiet: bool) -> dict:
    """Run one command `runs` times over `jobs` parallel workers (each writing its own output folder)."""
    t0 = time.perf_counter()
    slots: queue.Queue = queue.Queue()
    for k in range(jobs):
        slots.put(k)  # one output folder per concurrent run
    with ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(run_once, LAUNCH[exit_mode], command, work, slots) for _ in range(runs)]
        results = [f.result() for f in tqdm(futures, desc=f"{command} ({exit_mode})", disable=quiet)]
    codes = [rc for rc, _ in results]
    return {"command": command, "exit": exit_mode, "runs": runs, "jobs": jobs,
            "failed": sum(rc != 0 for rc in codes), "sigabrt": sum(rc == -signal.SIGABRT for rc in codes),
            "terminate_message": sum(t for _, t in results), "other_codes": sorted({rc for rc in codes} - {0}),
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=200, help="runs per command")
    p.add_argument("--jobs", type=int, default=2, help="runs at once")
    p.add_argument("--exit", dest="exit_mode", choices=sorted(LAUNCH), default="clean")
    p.add_argument("--command", action="append", choices=COMMANDS, default=None, help="only this one (repeatable)")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--out", default=None, help="write the counts here as JSON")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="stress-exits-") as tmp:
        work = Path(tmp)
        prepare(work, a.preset)
        for command in a.command or COMMANDS:
            rows.append(stress(command, a.runs, a.jobs, a.exit_mode, work, a.quiet))
            if a.out:
                Path(a.out).write_text(json.dumps(rows, indent=1))
    print(tabulate(rows, headers="keys"))
    return int(any(r["failed"] for r in rows))


if __name__ == "__main__":
    sys.exit(main())
