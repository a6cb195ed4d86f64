"""`recsys download` against a local HTTP server on 127.0.0.1 serving a fixture zip."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile

import pytest

from recsys_cli.data import download as dl
from recsys_cli.core.errors import EnvironmentFailure, InputError

from conftest import FIXTURES


def _fixture_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in ("ratings.csv", "movies.csv"):
            zf.write(FIXTURES / "ml-latest" / name, f"ml-latest-small/{name}")
    return buffer.getvalue() * 1  # a few KB


class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""
    requests: list = []
    cut_after: int | None = None  # drop the connection after this many bytes

    def do_GET(self):  # noqa: N802 (http.server's naming)
        type(self).requests.append(self.headers.get("Range"))
        body, status = self.payload, 200
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
            if start >= len(body):
                self.send_response(416)
                self.end_headers()
                return
            status = 206
        chunk = body[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(chunk)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        if self.cut_after is not None and not start:
            self.wfile.write(chunk[: self.cut_after])
            self.wfile.flush()
            self.connection.close()
            return
        self.wfile.write(chunk)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    payload = _fixture_zip()
    handler = type("Handler", (_Handler,), {"payload": payload, "requests": [], "cut_after": None})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_and_ingests(server, tmp_path, cli):
    url, handler = server
    digest = hashlib.sha256(handler.payload).hexdigest()
    result = cli("download", "movielens-latest-small", "--dir", tmp_path, "--base-url", url, "--sha256", digest, "--quiet")
    assert result.code == 0, result.err
    archive = tmp_path / "ml-latest-small.zip"
    assert archive.read_bytes() == handler.payload
    assert (tmp_path / "ml-latest-small.zip.sha256").read_text().startswith(digest)
    assert not (tmp_path / "ml-latest-small.zip.part").exists()
    assert cli("ingest", "movielens", archive, "--out", tmp_path / "ds", "--quiet").code == 0
    # Already there and verified: no request at all.
    handler.requests.clear()
    assert cli("download", "movielens-latest-small", "--dir", tmp_path, "--base-url", url, "--sha256", digest, "-q").code == 0
    assert handler.requests == []


def test_partial_download_resumes_with_a_range_request(server, tmp_path):
    url, handler = server
    part = tmp_path / "ml-latest-small.zip.part"
    part.write_bytes(handler.payload[:100])
    seen = []
    path = dl.download_archive("movielens-latest-small", tmp_path, base_url=url,
                               expected_sha256=hashlib.sha256(handler.payload).hexdigest(),
                               on_progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == handler.payload
    assert handler.requests == ["bytes=100-"]
    assert seen[-1] == (len(handler.payload), len(handler.payload))


def test_interrupted_download_keeps_the_partial_file_and_no_final_file(server, tmp_path):
    url, handler = server
    handler.cut_after = 500
    with pytest.raises(EnvironmentFailure, match="resume"):
        dl.download_archive("movielens-latest-small", tmp_path, base_url=url,
                            expected_sha256=hashlib.sha256(handler.payload).hexdigest())
    assert not (tmp_path / "ml-latest-small.zip").exists()
    handler.cut_after = None
    path = dl.download_archive("movielens-latest-small", tmp_path, base_url=url,
                               expected_sha256=hashlib.sha256(handler.payload).hexdigest())
    assert path.read_bytes() == handler.payload
    assert handler.requests[-1].startswith("bytes=")


def test_checksum_mismatch_removes_the_download(server, tmp_path, cli):
    url, _ = server
    result = cli("download", "movielens-latest-small", "--dir", tmp_path, "--base-url", url, "--sha256", "0" * 64, "-q")
    assert result.code == 2 and "sha256" in result.err
    assert list(tmp_path.iterdir()) == []


def test_unknown_name_and_unreachable_server(cli, tmp_path):
    result = cli("download", "movielens-2b", "--dir", tmp_path)
    assert result.code == 2 and "movielens-1m" in result.err
    result = cli("download", "movielens-1m", "--dir", tmp_path, "--base-url", "http://127.0.0.1:9", "-q")
    assert result.code == 1 and "could not connect" in result.err  # the environment, not the input


class _EndlessHandler(http.server.BaseHTTPRequestHandler):
    """A server that never stops sending (and announces no length)."""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.end_headers()
        try:
            while True:
                self.wfile.write(b"\0" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


def test_an_endless_response_is_cut_at_the_cap(tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EndlessHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(InputError, match="over this archive's cap of 1,000,000"):
            dl.download_archive("movielens-100k", tmp_path, base_url=f"http://127.0.0.1:{httpd.server_address[1]}",
                                max_bytes=1_000_000)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert not (tmp_path / "ml-100k.zip.part").exists() and not (tmp_path / "ml-100k.zip").exists()


def test_the_cap_is_the_known_size_or_the_stated_maximum():
    known = dl.ARCHIVES["movielens-100k"]
    assert known.size < known.cap() < known.size * 1.06 + (1 << 20) + 1
    assert dl.Archive("x.zip", "sha256", "0" * 64).cap() == dl.MAX_DOWNLOAD_BYTES
