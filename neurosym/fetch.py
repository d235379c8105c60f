"""Download and safely extract public data sets (``neurosym data fetch``).

Extraction never writes outside the target folder: absolute member names, ``..``
components, links and device files are rejected. The archive is extracted into a
temporary folder beside the target, checked for every expected task file, and
only then renamed into place, so a failed fetch leaves nothing half-extracted.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from neurosym.errors import DataError
from neurosym.tasks.babi import TASK_FILE_STEMS

logger = logging.getLogger(__name__)

BABI_URL = "https://dl.fbaipublicfiles.com/babi/tasks_1-20_v1-2.tar.gz"
BABI_ROOT = "tasks_1-20_v1-2"
DOWNLOAD_TIMEOUT_S = 60


def expected_babi_files(variant: str) -> list[str]:
    return [f"{BABI_ROOT}/{variant}/{stem}_{split}.txt" for stem in TASK_FILE_STEMS.values()
            for split in ("train", "test")]


def download(url: str, destination: Path, progress: bool = True) -> None:
    """Stream ``url`` to ``destination`` with a progress bar."""
    try:
        response = urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S)  # noqa: S310 - user-chosen URL
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DataError(f"cannot download {url}: {exc}; check the URL or pass a local archive with --url file://PATH") from exc
    with response, open(destination, "wb") as handle:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, disable=not progress, desc="download") as bar:
            while chunk := response.read(1 << 16):
                handle.write(chunk)
                bar.update(len(chunk))


def safe_extract(archive: Path, target: Path) -> list[str]:
    """Extract regular files and folders of a tar archive into ``target``; return member names."""
    try:
        tar = tarfile.open(archive)
    except (tarfile.TarError, OSError) as exc:
        raise DataError(f"the downloaded file is not a readable tar archive ({type(exc).__name__})") from exc
    names = []
    with tar:
        for member in tar.getmembers():
            path = PurePosixPath(member.name)
            if path.is_absolute() or ".." in path.parts:
                raise DataError(f"archive member {member.name!r} would escape the target folder; refusing to extract")
            if not (member.isfile() or member.isdir()):
                raise DataError(f"archive member {member.name!r} is a link or special file; refusing to extract")
            destination = target.joinpath(*path.parts)
            if member.isdir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is None:
                raise DataError(f"cannot read archive member {member.name!r}")
            with source, open(destination, "wb") as out:
                shutil.copyfileobj(source, out)
            names.append(path.as_posix())
    return names


def fetch_babi(to: str | os.PathLike[str], url: str = BABI_URL, progress: bool = True) -> Path:
    """Download the bAbI v1.2 archive and extract it to ``to``; return the folder for --data-dir.

    Every variant folder in the archive (``en``, ``en-10k``, …) must hold all 40
    task files, and ``en`` must be present.
    """
    target = Path(to).expanduser()
    final = target / BABI_ROOT
    if final.exists():
        raise DataError(f"{final} already exists; remove it or choose another --to folder")
    if "://" not in url and not Path(url).is_file():
        raise DataError(f"archive {url} not found; give an existing local file or an http(s):// or file:// URL")
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target, prefix=".fetch-"))
    try:
        archive = staging / "archive.tar.gz"
        if Path(url).is_file():
            shutil.copyfile(url, archive)
        else:
            download(url, archive, progress)
        extracted = staging / "extracted"
        extracted.mkdir()
        names = set(safe_extract(archive, extracted))
        variants = sorted({n.split("/")[1] for n in names if n.startswith(f"{BABI_ROOT}/") and n.count("/") >= 2})
        if "en" not in variants:
            raise DataError(f"archive from {url} has no {BABI_ROOT}/en folder; is it the bAbI v1.2 archive?")
        for variant in variants:
            if variant not in ("en", "en-10k", "hn", "hn-10k", "shuffled", "shuffled-10k"):
                continue
            missing = [f for f in expected_babi_files(variant) if f not in names]
            if missing:
                raise DataError(f"archive from {url} lacks {len(missing)} expected file(s), e.g. {missing[0]}")
        os.replace(extracted / BABI_ROOT, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            shutil.rmtree(target, ignore_errors=True)  # leave no empty folder behind
        raise
    shutil.rmtree(staging, ignore_errors=True)
    logger.info("bAbI extracted to %s", final)
    return final
