"""The index of every published board: leaderboard/README.md, rendered from each leaderboard/<dataset>/results.json.

Each dataset's board is its own folder, written by the `leaderboard` stage of a build of that dataset, so
building one never touches another; this page (stage `leaderboard-index`) lists them all.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.io import log
from benchmark.leaderboard.render import _num, _table, sim_text
from benchmark.leaderboard.view import DASH, _mean, _TaskView
from benchmark.params import parse_dataset


def find_boards(root: Path) -> dict[str, dict]:
    """Every board under root: {folder name: its results.json}; a folder that is not a board is an error."""
    boards = {}
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith(".")):
        path = folder / "results.json"
        if not path.is_file():
            raise BenchmarkError(f"{folder}: not a board (no results.json); a folder under {root}/ is one "
                                 "dataset's board, written by the leaderboard stage")
        try:
            results = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise BenchmarkError(f"{path}: not valid JSON ({e})") from None
        if results.get("dataset") != folder.name:
            raise BenchmarkError(f"{path}: column 'dataset' is {results.get('dataset')!r}, expected "
                                 f"'{folder.name}' (a board's folder is named for its dataset)")
        boards[folder.name] = results
    return boards


def _role(dataset: str, default: str) -> str:
    """What a board is for, from its dataset name alone."""
    from benchmark.sim.presets import STUDY_PRESETS

    name = parse_dataset(dataset)
    roles = ["the default (params.yaml)"] if dataset == default else []
    if name.source == "kuailive":
        roles.append("the real release")
    if name.switched_off:
        roles.append("control: " + ", ".join(f"`{s}` off" for s in name.switched_off))
    if name.preset in STUDY_PRESETS:
        roles.append("mechanism study, not KuaiLive-shaped")
    return "; ".join(roles) or "another simulated world"


def _data(results: dict) -> str:
    data = results["data"]
    if not data.get("synthetic"):
        return "KuaiLive (the real release)"
    return f"KuaiLive-Sim, preset `{data.get('preset')}`, seed {data.get('sim_seed')}; {sim_text(data)}"


def _headline(results: dict, task: str) -> str:
    """'best ranked model value / Oracle value' for one task of one board."""
    v = _TaskView(results, task)
    best = v.best
    text = DASH if best is None else f"{best} {_num(_mean(v.values(best, v.primary)))}"
    oracle = results.get("oracle")
    if oracle in v.ok:
        text += f" / {oracle} {_num(_mean(v.values(oracle, v.primary)))}"
    return text


def render_boards(boards: dict[str, dict], default: str) -> str:
    """leaderboard/README.md: every board, what it is for, and each task's best ranked model beside the Oracle."""
    order = sorted(boards, key=lambda d: (d != default, d))
    rows = []
    for d in order:
        r = boards[d]
        n_ok = sum(run["status"] == "ok" for run in r["runs"])
        code = r["code_version"]
        rows.append([f"[{d}]({d}/README.md)", _role(d, default), _data(r),
                     f"`{code.get('describe') or DASH}`" + (" with local changes" if code.get("local_changes") else ""),
                     f"{n_ok:,} of {len(r['runs']):,}"])
    tasks = list(dict.fromkeys(t for d in order for t in boards[d]["tasks"]))
    head = []
    for d in order:
        head.append([f"[{d}]({d}/README.md)"] + [
            _headline(boards[d], t) if t in boards[d]["tasks"] else DASH for t in tasks])
    primaries = {t: next(boards[d]["tasks"][t]["primary"] for d in order if t in boards[d]["tasks"]) for t in tasks}
    parts = [
        "# KuaiLive-Bench leaderboards",
        "One board per dataset, each in its own folder: its task pages, plots and `results.json`, from which "
        "every number on it (and on this page) is generated. The default board is built by `dvc repro`; "
        "another dataset's by `dvc exp run -S dataset=<name>` (docs/leaderboard.md, \"One board per "
        "dataset\"). Numbers on different boards come from different data and are not comparable with "
        "each other; within a board, every model ran on the same split, seeds and code.",
        "## Boards",
        _table(rows, ["board", "role", "data", "code version", "runs ok"]),
        "## Best ranked model and the Oracle, per board",
        "Each cell: the best ranked model and its primary metric (mean over seeds), then the Oracle's, the "
        "ceiling a model with the simulator's ground truth reaches. Primary metrics: "
        + ", ".join(f"{t} `{p}`" for t, p in primaries.items()) + ".",
        _table(head, ["board", *tasks]),
    ]
    return "\n\n".join(parts) + "\n"


def index_stage(root: Path, default: str, quiet: bool = False) -> Path:
    """`kuailive-bench leaderboard-index`: write root/README.md listing every board under root, atomically."""
    root = Path(root)
    boards = find_boards(root)
    if not boards:
        raise BenchmarkError(f"{root}: no board yet (run the leaderboard stage first)")
    text = render_boards(boards, default)
    out = root / "README.md"
    fd, tmp = tempfile.mkstemp(prefix=".README.md.tmp-", dir=root)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log(quiet, f"leaderboard-index: {len(boards)} board(s) -> {out}")
    return out
