"""`kuailive-bench`: the command line the DVC stages call.

Each subcommand is a thin shell over one library function, so everything it does can also be
called from Python (and is, in the tests).
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import sys
import traceback
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.params import DEVICES, STREAMS


def _cmd_fetch(a: argparse.Namespace) -> None:
    from benchmark.data.fetch import fetch

    fetch(url=a.url, dest=Path(a.dest), md5=a.md5, size=a.size, quiet=a.quiet)


def _cmd_ingest(a: argparse.Namespace) -> None:
    from benchmark.data.ingest import ingest

    report = ingest(Path(a.source), Path(a.out), md5=a.md5, quiet=a.quiet)
    if not a.quiet:
        print(json.dumps({k: report[k] for k in ("rows", "rooms_distinct", "unattributed")}, indent=1))


def switches_off(words: list[str]) -> dict[str, bool] | None:
    """`simulate --off` words -> simulator overrides; a switch may be written with or without its underscores,
    as in dataset names (`contentdrift` or `content_drift`)."""
    from benchmark.errors import BenchmarkError
    from benchmark.sim.presets import SWITCHES

    compact = {k.replace("_", ""): k for k in SWITCHES}
    unknown = sorted(w for w in words if w.replace("_", "") not in compact)
    if unknown:
        raise BenchmarkError(f"simulate --off: {', '.join(unknown)} is no simulator switch "
                             f"(one of: {', '.join(SWITCHES)})")
    return {compact[w.replace("_", "")]: False for w in words} or None


def _cmd_simulate(a: argparse.Namespace) -> None:
    from benchmark.sim import simulate
    from benchmark.sim.report import calibration_report

    overrides = switches_off(a.off)
    if a.report and a.out is None:
        print(calibration_report(preset=a.preset, seed=a.seed, quiet=a.quiet, overrides=overrides))
        return
    simulate(preset=a.preset, seed=a.seed, out=Path(a.out), overrides=overrides, quiet=a.quiet)
    if a.report:
        print(calibration_report(source=Path(a.out), preset=a.preset, quiet=a.quiet))


def _cmd_data(a: argparse.Namespace) -> None:
    from benchmark.pipeline import make_raw

    make_raw(Path(a.params), Path(a.out), quiet=a.quiet)


def _cmd_split(a: argparse.Namespace) -> None:
    from benchmark.params import load_params
    from benchmark.split import make_split

    params = load_params(Path(a.params))
    make_split(Path(a.processed), Path(a.out), params.split, params.features.long_view_seconds, quiet=a.quiet)


def _cmd_features(a: argparse.Namespace) -> None:
    from benchmark.features import build_features
    from benchmark.params import load_params

    feats = load_params(Path(a.params)).features
    build_features(Path(a.processed), Path(a.split), Path(a.out), feats.moment_windows_s, feats.long_view_seconds,
                   quiet=a.quiet)


def _cmd_tasks(a: argparse.Namespace) -> None:
    from benchmark.params import load_params
    from benchmark.tasks import build_tasks

    build_tasks(Path(a.processed), Path(a.split), Path(a.features), Path(a.out), load_params(Path(a.params)),
                tasks=a.task, quiet=a.quiet)


def _print_records(records: list[dict], quiet: bool) -> None:
    for r in records:
        if not quiet:
            print(f"{r['task']}/{r['model']}/seed{r['seed']}: {r['status']}"
                  + (f" ({r['error']})" if r["status"] != "ok" else ""))


def _cmd_run(a: argparse.Namespace) -> None:
    from benchmark.params import load_params
    from benchmark.runner import run_model_stage

    seeds = None if a.seed is None else [a.seed]
    records = run_model_stage(load_params(Path(a.params)), a.task, a.model, Path(a.data_root), Path(a.runs_root),
                              seeds=seeds, quiet=a.quiet)
    _print_records(records, a.quiet)


def _cmd_run_shared(a: argparse.Namespace) -> None:
    from benchmark.params import load_params
    from benchmark.shared_fit import run_shared_stage

    seeds = None if a.seed is None else [a.seed]
    records = run_shared_stage(load_params(Path(a.params)), a.model, Path(a.data_root), Path(a.runs_root),
                               seeds=seeds, quiet=a.quiet)
    _print_records(records, a.quiet)


def _cmd_model_code(a: argparse.Namespace) -> None:
    from benchmark.model_code import write_fingerprint
    from benchmark.params import find_model, parse_models, read_params_file

    models = parse_models(read_params_file(Path(a.params)))  # the models block only: one such stage per model
    record = write_fingerprint(find_model(models, a.model), Path(a.out))
    if not a.quiet:
        print(f"{a.model}: {record['code']} ({len(record['files'])} files) sha256 {record['sha256'][:12]}")


def _cmd_significance(a: argparse.Namespace) -> None:
    from benchmark.compare import significance_stage
    from benchmark.params import load_params

    significance_stage(load_params(Path(a.params)), Path(a.runs_root), Path(a.data_root), Path(a.out), quiet=a.quiet)


def _cmd_leaderboard(a: argparse.Namespace) -> None:
    from benchmark.leaderboard import leaderboard_stage
    from benchmark.params import load_params

    params = load_params(Path(a.params))
    out = Path(a.out) if a.out else Path("leaderboard") / params.dataset.name
    leaderboard_stage(params, Path(a.runs_root), Path(a.data_root), out, quiet=a.quiet,
                      significance=Path(a.significance) if a.significance else None)


def _cmd_leaderboard_index(a: argparse.Namespace) -> None:
    from benchmark.leaderboard.boards import index_stage
    from benchmark.params import load_params

    index_stage(Path(a.root), load_params(Path(a.params)).dataset.name, quiet=a.quiet)


def _cmd_render(a: argparse.Namespace) -> None:
    from benchmark.leaderboard import render
    from benchmark.params import load_params

    folder = Path(a.dir) if a.dir else Path("leaderboard") / load_params(Path(a.params)).dataset.name
    results = json.loads((folder / "results.json").read_text())
    for f in render(results, folder):
        if not a.quiet:
            print(f)


def _cmd_check(a: argparse.Namespace) -> None:
    from dataclasses import replace

    from benchmark.check import check_model, input_of
    from benchmark.interface import registered_models
    from benchmark.params import load_params, read_params_file

    spec, params, device, given = a.model, {}, a.device, None
    if ":" not in a.model and Path(a.params).exists():  # a model of params.yaml: its class, params and device
        models = registered_models(load_params(a.params))
        block = models.get(a.model)
        if block is not None:
            spec, params, device = block.cls, dict(block.params), a.device or block.device
            name = a.input or input_of(read_params_file(a.params), a.model)
            if name is not None and name not in models:
                raise SystemExit(f"check: the input {name} is not a model of {a.params}")
            given = None if name is None else replace(models[name], device=device or "auto")
    findings = check_model(spec, tasks=a.task, data_root=Path(a.data_root) if a.data_root else None,
                           quiet=a.quiet, params=params, streams=a.stream, device=device or "auto", input=given)
    for f in findings:
        print(f)
    fails = sum(f.verdict == "FAIL" for f in findings)
    print(f"{len(findings) - fails} passed, {fails} failed")
    if fails:
        raise SystemExit(1)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, separate from main() so tests and docs can inspect it."""
    p = argparse.ArgumentParser(prog="kuailive-bench", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--quiet", action="store_true", help="no progress bars or log lines")
        sp.set_defaults(func=fn)
        return sp

    sp = add("fetch", _cmd_fetch, "download KuaiLive.zip from Zenodo with resume and checksum check")
    sp.add_argument("--url", default="https://zenodo.org/record/16565801/files/KuaiLive.zip")
    sp.add_argument("--dest", default="data/raw/kuailive/KuaiLive.zip")
    sp.add_argument("--md5", default=None, help="expected md5 (hex); read from the Zenodo API if omitted")
    sp.add_argument("--size", type=int, default=None, help="expected size in bytes")

    sp = add("ingest", _cmd_ingest, "read a KuaiLive zip or folder into typed parquet")
    sp.add_argument("--source", required=True, help="KuaiLive.zip, a KuaiLive/ folder, or a folder holding one")
    sp.add_argument("--out", required=True)
    sp.add_argument("--md5", default=None, help="verify the zip against this md5 first")

    sp = add("simulate", _cmd_simulate, "write KuaiLive-Sim data in the exact release layout, plus oracle/")
    sp.add_argument("--preset", choices=["tiny", "small", "dense", "full"], default="small")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--off", action="append", default=[], metavar="SWITCH",
                    help="turn a mechanism off (repeatable), e.g. --off highlights")
    sp.add_argument("--out", default=None)
    sp.add_argument("--report", action="store_true", help="print sim vs published KuaiLive statistics")

    sp = add("data", _cmd_data, "make data/raw/<dataset> as params.yaml says (simulate or fetch)")
    sp.add_argument("--params", default="params.yaml")
    sp.add_argument("--out", required=True)

    sp = add("split", _cmd_split, "the fixed global temporal split and its manifest")
    sp.add_argument("--processed", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--params", default="params.yaml")

    sp = add("features", _cmd_features, "build the leakage-free feature store")
    sp.add_argument("--processed", required=True)
    sp.add_argument("--split", required=True)
    sp.add_argument("--out", required=True, help="data/features/<dataset>")
    sp.add_argument("--params", default="params.yaml")

    sp = add("tasks", _cmd_tasks, "write the task split files")
    sp.add_argument("--processed", required=True)
    sp.add_argument("--split", required=True)
    sp.add_argument("--features", required=True)
    sp.add_argument("--out", required=True, help="data/tasks/<dataset>")
    sp.add_argument("--params", default="params.yaml")
    sp.add_argument("--task", action="append", default=None, help="only this task (repeatable)")
    sp = add("run", _cmd_run, "fit, predict and evaluate one model on one task (all seeds unless --seed)")
    sp.add_argument("--task", required=True)
    sp.add_argument("--model", required=True, help="a name under models: in params.yaml, or an entry point")
    sp.add_argument("--seed", type=int, default=None)
    sp.add_argument("--params", default="params.yaml")
    sp.add_argument("--data-root", default="data")
    sp.add_argument("--runs-root", default="runs")
    sp = add("run-shared", _cmd_run_shared, "fit a shared model once per seed and write its row of every task it "
             "is listed for (docs/shared-fits.md)")
    sp.add_argument("--model", required=True, help="a name under shared or shared_with_input in params.yaml")
    sp.add_argument("--seed", type=int, default=None)
    sp.add_argument("--params", default="params.yaml")
    sp.add_argument("--data-root", default="data")
    sp.add_argument("--runs-root", default="runs")
    sp = add("model-code", _cmd_model_code, "fingerprint a model's declared code (what its run stages depend on)")
    sp.add_argument("--model", required=True)
    sp.add_argument("--out", required=True, help="runs/code/<model>.json")
    sp.add_argument("--params", default="params.yaml")
    sp = add("significance", _cmd_significance, "test every model against its task's reference (user as the unit)")
    sp.add_argument("--params", default="params.yaml")
    sp.add_argument("--data-root", default="data")
    sp.add_argument("--runs-root", default="runs")
    sp.add_argument("--out", required=True, help="runs/significance/<dataset>.json")
    sp = add("leaderboard", _cmd_leaderboard, "collect every run into results.json and render the leaderboard")
    sp.add_argument("--params", default="params.yaml")
    sp.add_argument("--data-root", default="data")
    sp.add_argument("--runs-root", default="runs")
    sp.add_argument("--significance", default=None, help="default: runs/significance/<dataset>.json")
    sp.add_argument("--out", default=None, help="default: leaderboard/<dataset> (one board per dataset)")
    sp = add("leaderboard-index", _cmd_leaderboard_index, "write leaderboard/README.md, the index of every "
             "dataset's board under --root")
    sp.add_argument("--root", default="leaderboard")
    sp.add_argument("--params", default="params.yaml", help="names the default board (listed first)")
    sp = add("render", _cmd_render, "re-render the markdown and plots of a board from its results.json")
    sp.add_argument("dir", nargs="?", default=None, help="default: leaderboard/<dataset of params.yaml>")
    sp.add_argument("--params", default="params.yaml")
    sp = add("check", _cmd_check, "check a model against the interface on the tiny preset")
    sp.add_argument("model", help="MODULE:CLASS (importable), a model of params.yaml (checked with its params "
                    "block) or a registered entry-point name")
    sp.add_argument("--task", action="append", default=None, help="only this task (repeatable)")
    sp.add_argument("--stream", action="append", default=None, choices=STREAMS,
                    help="a model with update: replay only this stream (repeatable; default: every stream)")
    sp.add_argument("--data-root", default=None, help="reuse a folder for the tiny data (default: temporary)")
    sp.add_argument("--params", default="params.yaml", help="where a model named by its params.yaml name is found")
    sp.add_argument("--device", default=None, choices=DEVICES,
                    help="run on this device (default: the model's device in params.yaml, else auto)")
    sp.add_argument("--input", default=None, help="a model of params.yaml fitted first and handed over as the "
                    "checked model's input (default: its shared_with_input input, in the file's sets too)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; a BenchmarkError becomes one clear line and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except BenchmarkError as e:
        print(f"kuailive-bench {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


def entry() -> None:
    """The console script: run main, then leave without interpreter teardown.

    Arrow's C++ thread pool can still hold a worker while the interpreter and static destructors tear
    down, which aborts a finished command about once in 250 runs ("terminate called without an active
    exception", SIGABRT; apache/arrow#34314). Every file is closed by then, so the exit flushes Python's
    own state (atexit handlers, logging, stdout/stderr) and ends the process with os._exit."""
    try:
        rc = main()
    except SystemExit as e:  # argparse: --help, bad arguments
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
    except KeyboardInterrupt:
        rc = 130
    except BaseException:  # noqa: BLE001 - an unexpected error: its traceback, then the same clean exit
        traceback.print_exc()
        rc = 1
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to flush into
            pass
    os._exit(rc)


if __name__ == "__main__":
    entry()
