"""Download KuaiLive.zip from Zenodo: resumable (HTTP Range), verified (size, md5), renamed into place last.

Standard library only (urllib), so a fetch works wherever the package installs.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from urllib.parse import unquote, urlparse

from tqdm.auto import tqdm

from benchmark.errors import BenchmarkError
from benchmark.io import log

RECORD_API = "https://zenodo.org/api/records/16565801"
USER_AGENT = "kuailive-bench (+https://zenodo.org/records/16565801)"
CHUNK = 1 << 20
RETRIES = 5
BACKOFF_S = 0.5  # doubles after each dropped connection

_DROPPED = (http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionError, socket.timeout,
            TimeoutError)


class _Dropped(Exception):
    """The connection ended before the announced body did; the .part is kept and resumed."""


def _file_name(url: str) -> str:
    parts = [p for p in urlparse(url).path.split("/") if p]
    if len(parts) >= 2 and parts[-1] == "content":  # zenodo.org/records/ID/files/NAME/content
        parts = parts[:-1]
    return unquote(parts[-1]) if parts else ""


def record_checksum(record_api: str, name: str, timeout: float = 60.0) -> tuple[str | None, int | None]:
    """(md5, size) of file `name` as the Zenodo record API lists it; raises on any failure."""
    req = urllib.request.Request(record_api, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        record = json.loads(resp.read().decode("utf-8"))
    files = record.get("files", [])
    if isinstance(files, dict):  # newer InvenioRDM layout: {"entries": {...}} or {"entries": [...]}
        files = files.get("entries", files)
        files = list(files.values()) if isinstance(files, dict) else files
    for entry in files:
        if entry.get("key") == name or entry.get("filename") == name:
            checksum = entry.get("checksum") or ""
            md5 = checksum.split(":", 1)[1] if checksum.startswith("md5:") else None
            size = entry.get("size", entry.get("filesize"))
            return md5, int(size) if size is not None else None
    raise LookupError(f"no file named {name!r} in the record")


def _offline(url: str, dest: Path, err: object) -> BenchmarkError:
    return BenchmarkError(
        f"cannot reach {urlparse(url).netloc or url} ({err}). This machine looks offline: on a machine with "
        f"internet, download KuaiLive.zip from {url} and put it at {dest} (then re-run; it is checked and used), "
        f"or run `kuailive-bench ingest --source PATH` on a copy you already have.")


def _md5_of(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _verify(path: Path, md5: str | None, size: int | None, what: str) -> None:
    got_size = path.stat().st_size
    if size is not None and got_size != size:
        raise BenchmarkError(f"{what}: size mismatch: expected {size:,} bytes, got {got_size:,}")
    if md5 is not None:
        got = _md5_of(path)
        if got != md5:
            raise BenchmarkError(f"{what}: md5 mismatch: expected {md5}, got {got}")


def _download_once(url: str, part: Path, size: int | None, timeout: float, bar: tqdm) -> None:
    """One HTTP request continuing `part` from its current length; raises _Dropped when cut short."""
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset >= size:
        return
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # nothing left to send: the .part is complete (verified next)
            return
        raise
    with resp:
        if offset and resp.status != 206:  # server ignored the Range: start over
            offset = 0
        length = resp.headers.get("Content-Length")
        expected = offset + int(length) if length is not None else size
        bar.reset(total=expected)
        bar.update(offset)
        with open(part, "r+b" if offset else "wb") as f:
            f.seek(offset)
            f.truncate()
            got = offset
            while chunk := resp.read(CHUNK):
                f.write(chunk)
                got += len(chunk)
                bar.update(len(chunk))
    if expected is not None and got < expected:
        raise _Dropped(f"connection closed after {got:,} of {expected:,} bytes")


def fetch(url: str, dest: Path, md5: str | None = None, size: int | None = None, quiet: bool = False,
          timeout: float = 60.0, record_api: str | None = RECORD_API) -> Path:
    """Download `url` to `dest` via `dest.part` with resume and retries; verify size and md5; return `dest`.

    Without an md5, the Zenodo record API's checksum is used when it can be read (else a warning).
    A mismatch removes only the .part, so the next call starts afresh.
    """
    dest = Path(dest)
    md5 = md5.strip().lower() if md5 else None
    if md5 is None and record_api:
        try:
            api_md5, api_size = record_checksum(record_api, _file_name(url), timeout=timeout)
            md5, size = api_md5, size if size is not None else api_size
        except Exception as e:  # noqa: BLE001 - any failure here only means "verify less"
            warnings.warn(f"could not read the checksum from {record_api} ({e}); the download is not md5-verified",
                          stacklevel=2)
    if dest.exists():
        try:
            _verify(dest, md5, size, str(dest))
        except BenchmarkError as e:
            raise BenchmarkError(f"{e} (an existing file: delete it and re-run to download it again)") from None
        log(quiet, f"fetch: {dest} already present" + (" and verified" if md5 or size else ""))
        return dest

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    bar = tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name, disable=quiet)
    progressed = False  # bytes gained in this call: only then is a failed reconnect worth retrying
    try:
        for attempt in range(RETRIES + 1):
            before = part.stat().st_size if part.exists() else 0
            try:
                _download_once(url, part, size, timeout, bar)
                break
            except urllib.error.HTTPError as e:
                raise BenchmarkError(f"{url}: the server answered HTTP {e.code} {e.reason}") from None
            except urllib.error.URLError as e:
                if not progressed:
                    raise _offline(url, dest, e.reason) from None
                err: object = e.reason
            except (_Dropped, *_DROPPED) as e:
                err = e
            progressed = progressed or (part.exists() and part.stat().st_size > before)
            if attempt == RETRIES:
                raise BenchmarkError(f"{url}: download kept failing ({err}); {part} is kept, re-run to resume")
            log(quiet, f"fetch: connection dropped ({err}); resuming in {BACKOFF_S * 2 ** attempt:.1f} s")
            time.sleep(BACKOFF_S * 2 ** attempt)
    finally:
        bar.close()
    try:
        _verify(part, md5, size, str(part))
    except BenchmarkError as e:
        part.unlink(missing_ok=True)
        raise BenchmarkError(f"{e} (download from {url}; the bad .part was removed, "
                             "re-run to download again)") from None
    os.replace(part, dest)
    log(quiet, f"fetch: wrote {dest}")
    return dest
