"""Release-exact writing of a simulated KuaiLive: the CSVs and npy of KuaiLive/, and oracle/.

Headers and column order come from benchmark.data.schema; ints are plain integers, strings unquoted
(the simulator's strings never hold a comma, quote or newline: checked), timestamps epoch ms.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from benchmark.data import schema
from benchmark.errors import BenchmarkError
from benchmark.io import log
from benchmark.sim.model import Release

ORACLE = "oracle"
LATENT = "latent"


def write_csv(table: pa.Table, path: Path) -> None:
    """One release CSV: a bare header line, then rows with unquoted fields."""
    for name in table.column_names:
        col = table[name]
        if pa.types.is_string(col.type) and col.length():
            bad = pc.any(pc.match_substring_regex(col, r'[,"\n\r]')).as_py()
            if bad:
                raise BenchmarkError(f"{path.name}: column '{name}' holds a value that would need quoting")
    with open(path, "wb") as f:
        f.write((",".join(table.column_names) + "\n").encode())
        pcsv.write_csv(table, f, pcsv.WriteOptions(include_header=False, quoting_style="none",
                                                    batch_size=1 << 16))


def _write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd", compression_level=1)


def write_release(rel: Release, out: Path, quiet: bool = False) -> Path:
    """Write out/KuaiLive/ and out/oracle/ via a temporary folder renamed into place at the end."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".sim-tmp-", dir=out))
    try:
        raw, orc = tmp / schema.FOLDER, tmp / ORACLE
        lat = orc / LATENT
        lat.mkdir(parents=True)
        raw.mkdir()
        for name in schema.RAW_FILES:
            if rel.tables[name].column_names != schema.RAW_FILES[name].column_names:
                raise BenchmarkError(f"sim writer: {name} columns differ from benchmark/data/schema.py")
        jobs = [(write_csv, rel.tables[name], raw / name) for name in sorted(
            schema.RAW_FILES, key=lambda n: -rel.tables[n].num_rows)]
        jobs += [(_write_parquet, rel.oracle_exposures, orc / "exposures.parquet"),
                 (_write_parquet, rel.oracle_clicks, orc / "clicks.parquet")]
        jobs += [(_write_parquet, t, lat / f"{name}.parquet") for name, t in rel.latent_tables.items()]
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(fn, table, path) for fn, table, path in jobs]
            np.save(raw / schema.EMBEDDINGS_FILE, np.ascontiguousarray(rel.title_embeddings, dtype=np.float32))
            for name, arr in rel.latent_arrays.items():
                np.save(lat / f"{name}.npy", np.ascontiguousarray(arr, dtype=np.float32))
            (lat / "params.json").write_text(json.dumps(rel.meta, indent=1, sort_keys=True) + "\n")
            for f in futures:
                f.result()
        for name in (schema.FOLDER, ORACLE):
            if (out / name).exists():
                (out / name).rename(tmp / f"old-{name}")
            (tmp / name).rename(out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(quiet, f"sim: wrote {out / schema.FOLDER} and {out / ORACLE}")
    return out
