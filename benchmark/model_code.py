"""A model's code as a pipeline dependency: the fingerprint file its run stages depend on.

DVC cannot look a model's `code:` up from a run stage's matrix item, so a `model-code@<model>` stage per
model depends on that file or folder and writes runs/code/<model>.json (the hashes of its files); each
run stage depends on its model's fingerprint. Editing one model's code reruns that model's stages only.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.io import write_json_atomic
from benchmark.params import ModelSpec


def code_files(code: Path) -> list[Path]:
    """The Python files of a model's code: the file itself, or every .py file under the folder."""
    code = Path(code)
    if code.is_file():
        return [code]
    return sorted(p for p in code.rglob("*.py") if "__pycache__" not in p.parts)


def class_file(cls_spec: str, root: Path) -> Path | None:
    """The file under root that holds a `module:Class` spec's module (None if it is not under root)."""
    stem = Path(root) / Path(*cls_spec.partition(":")[0].split("."))
    for f in (stem.with_suffix(".py"), stem / "__init__.py"):
        if f.is_file():
            return f.resolve()
    return None


def check_code(spec: ModelSpec, root: Path = Path(".")) -> Path:
    """The model's code path under root (the repository the stage runs in), checked: declared, present,
    and holding its class's module when that module lives in the repository."""
    if not spec.code:
        raise BenchmarkError(f"params.yaml: models.{spec.name} needs 'code: <file or folder>' (the code its run "
                             "stages depend on, e.g. baselines/simple.py)")
    base = Path(root).resolve()
    code = (base / spec.code).resolve()
    if not code.exists():
        raise BenchmarkError(f"params.yaml: models.{spec.name}.code: {spec.code} does not exist")
    where = class_file(spec.cls, base)
    if where is not None and where != code and code not in where.parents:
        raise BenchmarkError(f"params.yaml: models.{spec.name}.code is {spec.code}, but its class {spec.cls} "
                             f"lives in {where.relative_to(base)}")
    return code


def fingerprint(spec: ModelSpec, root: Path = Path(".")) -> dict:
    """{model, class, code, files: {path: sha256}, sha256}: what identifies the model's code."""
    code = check_code(spec, root)
    base = Path(root).resolve()
    files = {str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest() for p in code_files(code)}
    whole = hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in files.items()).encode()).hexdigest()
    return {"model": spec.name, "class": spec.cls, "code": spec.code, "files": files, "sha256": whole}


def write_fingerprint(spec: ModelSpec, out: Path, root: Path = Path(".")) -> dict:
    """Write the model's fingerprint to out (atomically) and return it."""
    record = fingerprint(spec, root)
    write_json_atomic(record, Path(out))
    return json.loads(json.dumps(record))
