"""Release-exact writing of a simulated KuaiLive: the CSVs and npy of KuaiLive/, and oracle/.

Headers and column order come from benchmark.data.schema; ints are plain integers, strings unquoted
(the simulator's strings never hold a comma, quote or newline: checked), timestamps epoch ms.
`DirectorySink` receives each table as soon as the model has built it and writes it on a background
thread, so writing overlaps the simulation and a written table's memory is freed at once.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from benchmark.data import schema
from benchmark.errors import BenchmarkError

ORACLE = "oracle"
LATENT = "latent"
PARAMS = "params.json"


def write_csv(table: pa.Table, path: Path) -> None:
    """One release CSV: a bare header line, then rows with unquoted fields."""
    for name in table.column_names:
        col = table[name]
        if pa.types.is_string(col.type) and col.length():
            if pc.any(pc.match_substring_regex(col, r'[,"\n\r]')).as_py():
                raise BenchmarkError(f"{path.name}: column '{name}' holds a value that would need quoting")
    with open(path, "wb") as f:
        f.write((",".join(table.column_names) + "\n").encode())
        pcsv.write_csv(table, f, pcsv.WriteOptions(include_header=False, quoting_style="none",
                                                    batch_size=1 << 16))


def write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd", compression_level=1)


def write_npy(array: np.ndarray, path: Path) -> None:
    np.save(path, np.ascontiguousarray(array, dtype=np.float32))


class DirectorySink:
    """Writes KuaiLive/ and oracle/ into a hidden temporary folder under `out`; `commit` moves them into place.

    Writes run on `workers` background threads; `commit` waits for them, re-raises the first error,
    then renames each folder into place (replacing an older one). `abort` removes everything.
    """

    def __init__(self, out: Path, workers: int = 2):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=".sim-tmp-", dir=self.out))
        self.raw, self.orc = self.tmp / schema.FOLDER, self.tmp / ORACLE
        (self.orc / LATENT).mkdir(parents=True)
        self.raw.mkdir()
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.jobs: list[Future] = []
        self.written: set[str] = set()

    def _submit(self, fn, obj: Any, path: Path) -> None:
        self.jobs.append(self.pool.submit(fn, obj, path))
        self.written.add(str(path.relative_to(self.tmp)))

    def csv(self, name: str, table: pa.Table) -> None:
        expected = schema.RAW_FILES[name].column_names
        if table.column_names != expected:
            raise BenchmarkError(f"sim writer: {name} columns {table.column_names} differ from schema {expected}")
        self._submit(write_csv, table, self.raw / name)

    def embeddings(self, array: np.ndarray) -> None:
        self._submit(write_npy, array, self.raw / schema.EMBEDDINGS_FILE)

    def oracle(self, name: str, table: pa.Table) -> None:
        self._submit(write_parquet, table, self.orc / f"{name}.parquet")

    def latent(self, name: str, obj: pa.Table | np.ndarray) -> None:
        if isinstance(obj, pa.Table):
            self._submit(write_parquet, obj, self.orc / LATENT / f"{name}.parquet")
        else:
            self._submit(write_npy, obj, self.orc / LATENT / f"{name}.npy")

    def commit(self, meta: dict[str, Any]) -> Path:
        """Wait for every write, add params.json, check the release is complete, move it into place."""
        try:
            for job in self.jobs:
                job.result()
        finally:
            self.pool.shutdown(wait=True)
        (self.orc / LATENT / PARAMS).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        missing = [n for n in list(schema.RAW_FILES) + [schema.EMBEDDINGS_FILE]
                   if f"{schema.FOLDER}/{n}" not in self.written]
        if missing:
            raise BenchmarkError(f"sim writer: the model emitted no {', '.join(missing)}")
        for name in (schema.FOLDER, ORACLE):
            if (self.out / name).exists():
                (self.out / name).rename(self.tmp / f"old-{name}")
            (self.tmp / name).rename(self.out / name)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return self.out

    def abort(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
