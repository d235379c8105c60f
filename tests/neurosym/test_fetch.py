"""`neurosym data fetch babi` against an archive served on 127.0.0.1."""

from __future__ import annotations

import functools
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from neurosym.cli import main
from neurosym.errors import DataError
from neurosym.fetch import BABI_ROOT, fetch_babi
from neurosym.tasks import get_task


def _write_archive(path: Path, babi_dir: Path, variants: tuple[str, ...] = ("en",), drop: str | None = None) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for variant in variants:
            for file in sorted((babi_dir / variant).iterdir()):
                if file.name != drop:
                    tar.add(file, arcname=f"{BABI_ROOT}/{variant}/{file.name}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Serve tmp_path/www over HTTP on 127.0.0.1; yield (base URL, folder)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args: None  # keep test output quiet
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", www
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_over_http_extracts_loadable_data(served, babi_dir: Path, tmp_path: Path) -> None:
    base, www = served
    _write_archive(www / "babi.tar.gz", babi_dir)
    folder = fetch_babi(tmp_path / "data", url=f"{base}/babi.tar.gz", progress=False)
    examples = get_task("babi.qa1").examples("test", data_dir=folder / "en")
    assert len(examples) == 1000


def test_cli_fetch_prints_data_dir(served, babi_dir: Path, tmp_path: Path, capsys) -> None:
    base, www = served
    _write_archive(www / "babi.tar.gz", babi_dir)
    code = main(["data", "fetch", "babi", "--url", f"{base}/babi.tar.gz", "--to", str(tmp_path / "d")])
    assert code == 0
    assert f"--data-dir {tmp_path / 'd' / BABI_ROOT}" in capsys.readouterr().out


def test_incomplete_archive_leaves_nothing(served, babi_dir: Path, tmp_path: Path) -> None:
    base, www = served
    _write_archive(www / "babi.tar.gz", babi_dir, drop="qa7_counting_test.txt")
    with pytest.raises(DataError, match="lacks 1 expected file"):
        fetch_babi(tmp_path / "data", url=f"{base}/babi.tar.gz", progress=False)
    assert not (tmp_path / "data").exists()


def _archive_with_member(path: Path, name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> None:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = link
        data = b"" if kind != tarfile.REGTYPE else b"x"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    ("name", "kind", "link"),
    [
        ("../escape.txt", tarfile.REGTYPE, ""),
        ("/tmp/absolute.txt", tarfile.REGTYPE, ""),
        (f"{BABI_ROOT}/en/link", tarfile.SYMTYPE, "/etc/passwd"),
    ],
)
def test_hostile_member_rejected(served, tmp_path: Path, name: str, kind: bytes, link: str) -> None:
    base, www = served
    _archive_with_member(www / "evil.tar.gz", name, kind, link)
    with pytest.raises(DataError, match="refusing to extract"):
        fetch_babi(tmp_path / "data", url=f"{base}/evil.tar.gz", progress=False)
    assert not (tmp_path / "escape.txt").exists()


def test_missing_url_gives_clear_error(served, tmp_path: Path) -> None:
    base, _ = served
    with pytest.raises(DataError, match="cannot download"):
        fetch_babi(tmp_path / "data", url=f"{base}/absent.tar.gz", progress=False)


def test_not_an_archive_rejected(served, tmp_path: Path) -> None:
    base, www = served
    (www / "junk.tar.gz").write_bytes(b"this is not a tar file")
    with pytest.raises(DataError, match="not a readable tar archive"):
        fetch_babi(tmp_path / "data", url=f"{base}/junk.tar.gz", progress=False)
