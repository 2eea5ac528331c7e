"""fetch() against a real HTTP server on 127.0.0.1 with Range support written here (no mocks, loopback only)."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from benchmark.data import fetch as fetch_mod
from benchmark.data.fetch import fetch
from benchmark.errors import BenchmarkError

PAYLOAD = np.random.default_rng(7).integers(0, 256, 3 * (1 << 20) + 12345, dtype=np.uint8).tobytes()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class Handler(BaseHTTPRequestHandler):
    """Serves server.payload at /files/KuaiLive.zip (Range: bytes=N-) and a Zenodo-like record at /api/record."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        srv = self.server
        srv.requests.append({"path": self.path, "range": self.headers.get("Range")})
        if self.path == "/api/record":
            body = json.dumps({"files": [{"key": "other.txt", "checksum": "md5:" + "1" * 32, "size": 3},
                                         {"key": "KuaiLive.zip", "checksum": "md5:" + srv.api_md5,
                                          "size": len(srv.payload)}]}).encode()
            self._send(200, body, {"Content-Type": "application/json"})
            return
        if self.path != "/files/KuaiLive.zip":
            self._send(404, b"not found")
            return
        data, start = srv.payload, 0
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        headers = {}
        if m and srv.ranges:
            start = int(m[1])
            if start >= len(data):
                self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        self.send_response(206 if "Content-Range" in headers else 200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))  # the full length is announced even when cut
        self.end_headers()
        if srv.cuts_left > 0:
            srv.cuts_left -= 1
            self.wfile.write(body[: srv.cut_after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def _send(self, code: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(fetch_mod, "BACKOFF_S", 0.01)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.payload, srv.requests, srv.ranges, srv.cuts_left, srv.cut_after, srv.api_md5 = PAYLOAD, [], True, 0, 0, MD5
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/files/KuaiLive.zip"
    srv.api = f"http://127.0.0.1:{srv.server_address[1]}/api/record"
    yield srv
    srv.shutdown()
    srv.server_close()


def downloads(srv) -> list[dict]:
    return [r for r in srv.requests if r["path"] == "/files/KuaiLive.zip"]


def test_plain_download_verifies_md5(server, tmp_path: Path):
    dest = tmp_path / "raw" / "KuaiLive.zip"
    assert fetch(server.url, dest, md5=MD5, size=len(PAYLOAD), quiet=True, record_api=None) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("KuaiLive.zip.part").exists()
    assert downloads(server)[0]["range"] is None
    # a second call finds the verified file and downloads nothing
    fetch(server.url, dest, md5=MD5, quiet=True, record_api=None)
    assert len(downloads(server)) == 1


def test_cut_connection_is_resumed_with_range(server, tmp_path: Path):
    server.cuts_left, server.cut_after = 1, 1_000_000
    dest = tmp_path / "KuaiLive.zip"
    fetch(server.url, dest, md5=MD5, quiet=True, record_api=None)
    reqs = downloads(server)
    assert [r["range"] for r in reqs] == [None, "bytes=1000000-"]
    assert dest.read_bytes() == PAYLOAD


def test_part_from_an_earlier_run_is_continued(server, tmp_path: Path):
    dest = tmp_path / "KuaiLive.zip"
    dest.with_name("KuaiLive.zip.part").write_bytes(PAYLOAD[:123_456])
    fetch(server.url, dest, md5=MD5, quiet=True, record_api=None)
    assert [r["range"] for r in downloads(server)] == ["bytes=123456-"]
    assert dest.read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_cleanly(server, tmp_path: Path):
    server.ranges = False
    dest = tmp_path / "KuaiLive.zip"
    dest.with_name("KuaiLive.zip.part").write_bytes(b"x" * 5000)
    fetch(server.url, dest, md5=MD5, quiet=True, record_api=None)
    assert dest.read_bytes() == PAYLOAD


def test_md5_mismatch_refused_and_part_removed(server, tmp_path: Path):
    dest = tmp_path / "KuaiLive.zip"
    with pytest.raises(BenchmarkError, match=f"md5 mismatch: expected {'a' * 32}, got {MD5}"):
        fetch(server.url, dest, md5="a" * 32, quiet=True, record_api=None)
    assert not dest.exists() and not dest.with_name("KuaiLive.zip.part").exists()


def test_size_mismatch_refused(server, tmp_path: Path):
    dest = tmp_path / "KuaiLive.zip"
    with pytest.raises(BenchmarkError, match=f"size mismatch: expected 10 bytes, got {len(PAYLOAD):,}"):
        fetch(server.url, dest, size=10, quiet=True, record_api=None)
    assert not dest.exists() and not dest.with_name("KuaiLive.zip.part").exists()


def test_checksum_read_from_the_record_api(server, tmp_path: Path):
    fetch(server.url, tmp_path / "ok" / "KuaiLive.zip", quiet=True, record_api=server.api)
    assert (tmp_path / "ok" / "KuaiLive.zip").read_bytes() == PAYLOAD
    server.api_md5 = "b" * 32  # the record says otherwise: refused
    with pytest.raises(BenchmarkError, match=f"expected {'b' * 32}, got {MD5}"):
        fetch(server.url, tmp_path / "bad" / "KuaiLive.zip", quiet=True, record_api=server.api)


def test_unreadable_record_api_warns_and_continues(server, tmp_path: Path):
    with pytest.warns(UserWarning, match="could not read the checksum"):
        fetch(server.url, tmp_path / "KuaiLive.zip", quiet=True, record_api=server.api + "/missing")
    assert (tmp_path / "KuaiLive.zip").read_bytes() == PAYLOAD


def test_http_error_is_named(server, tmp_path: Path):
    with pytest.raises(BenchmarkError, match="HTTP 404"):
        fetch(server.url.replace("KuaiLive.zip", "nothing.zip"), tmp_path / "x.zip", quiet=True, record_api=None)


def test_unreachable_url_gives_the_offline_message(tmp_path: Path):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/files/KuaiLive.zip"
    dest = tmp_path / "raw" / "KuaiLive.zip"
    with pytest.raises(BenchmarkError) as e:
        fetch(url, dest, md5=MD5, quiet=True, record_api=None, timeout=5)
    msg = str(e.value)
    assert "offline" in msg and url in msg and str(dest) in msg and "kuailive-bench ingest --source" in msg
    assert not dest.exists()
