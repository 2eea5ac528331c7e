"""Each model names its code, and its run stages depend on that code plus the harness it imports only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmark.errors import BenchmarkError
from benchmark.model_code import check_code, fingerprint
from benchmark.params import ModelSpec, load_params
from benchmark.tasks import TASKS

REPO = Path(__file__).resolve().parents[1]
PARAMS = load_params(REPO / "params.yaml")
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
# Imported by a run but not what it computes: the CLI shell, package markers, the other tasks' modules.
NOT_DEPENDED_ON = {"benchmark/cli.py", "benchmark/__init__.py", "benchmark/data/__init__.py",
                   "benchmark/sim/__init__.py", "baselines/__init__.py"}


def _imported_files(cls: str, runner: str = "benchmark.runner") -> set[str]:
    """Repository files a run of this class imports: the runner plus the class's module (fresh process)."""
    code = (f"import json, sys; import {runner}, benchmark.sim.oracle; from benchmark.interface import "
            f"load_class; load_class({cls!r}); print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items() "
            "if n.split('.')[0] in ('benchmark', 'baselines') and getattr(m, '__file__', None))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return {str(Path(f).resolve().relative_to(REPO)) for f in json.loads(out.stdout)}


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("model", sorted(PARAMS.models))
def test_every_model_names_the_code_its_class_lives_in(model):
    spec = PARAMS.models[model]
    assert check_code(spec, REPO).exists()
    assert fingerprint(spec, REPO)["files"]


def test_a_wrong_or_missing_code_entry_is_one_clear_error():
    with pytest.raises(BenchmarkError, match="needs 'code: <file or folder>'"):
        check_code(ModelSpec("M", "baselines.simple:GlobalMean"), REPO)
    with pytest.raises(BenchmarkError, match="lives in baselines/simple.py"):
        check_code(ModelSpec("M", "baselines.simple:GlobalMean", code="baselines/recbole"), REPO)
    with pytest.raises(BenchmarkError, match="does not exist"):
        check_code(ModelSpec("M", "baselines.simple:GlobalMean", code="baselines/nothing.py"), REPO)


def test_the_fingerprint_moves_with_the_code_and_only_with_it(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    spec = ModelSpec("M", "no.such.module:M", code="pkg")
    first = fingerprint(spec, tmp_path)
    assert fingerprint(spec, tmp_path) == first
    (tmp_path / "pkg" / "a.py").write_text("x = 2\n")
    assert fingerprint(spec, tmp_path)["sha256"] != first["sha256"]


@pytest.mark.parametrize("cls", sorted({spec.cls for spec in PARAMS.models.values()}))
def test_run_stages_depend_on_everything_a_run_imports(cls):
    """Every repository file a run of this class imports is a dependency of each run stage: the harness
    listed in dvc.yaml, or the model's own code (through its model-code fingerprint)."""
    code = next(spec.code for spec in PARAMS.models.values() if spec.cls == cls)
    imported = _imported_files(cls) - NOT_DEPENDED_ON
    for task in TASKS:
        deps = [d for d in STAGES[f"run-{task}"]["deps"] if not d.startswith(("data/", "runs/"))] + [code]
        others = {f"benchmark/tasks/{t}.py" for t in TASKS if t != task}
        missing = sorted(f for f in imported - others if not _covered(f, deps))
        assert not missing, f"run-{task} with {cls} imports {missing} but does not depend on them"


@pytest.mark.parametrize("stage", ["fit-shared", "fit-shared-with-input"])
def test_shared_fit_stages_depend_on_everything_a_shared_run_imports(stage):
    """The same for a shared fit's stage (docs/shared-fits.md), with the shared-fit runner and its input."""
    do = STAGES[stage]["do"]
    assert "runs/code/${key}.json" in do["deps"] and do["outs"] == ["runs/${dataset}/shared/${key}"]
    if stage == "fit-shared-with-input":
        assert "runs/${dataset}/shared/${item.input}" in do["deps"]
    deps = [d for d in do["deps"] if not d.startswith(("data/", "runs/"))]
    for name in PARAMS.shared:
        spec = PARAMS.models[name]
        missing = sorted(f for f in _imported_files(spec.cls, "benchmark.shared_fit") - NOT_DEPENDED_ON
                         if not _covered(f, deps + [spec.code]))
        assert not missing, f"{stage} with {spec.cls} imports {missing} but does not depend on them"


def test_run_stages_depend_on_their_models_fingerprint_not_the_baselines_folder():
    for task in TASKS:
        deps = STAGES[f"run-{task}"]["deps"]
        assert "runs/code/${item.model}.json" in deps and "baselines" not in deps
    stage = STAGES["model-code"]
    assert stage["foreach"] == "${models}" and "${item.code}" in stage["do"]["deps"]
