"""Data-parallel training under torchrun matches one process with the same global batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from neurosym.cli import main
from neurosym.distributed import DistributedContext, loss_share, shard

REPO_ROOT = Path(__file__).resolve().parents[2]
TRAIN_ARGS = ["train", "--task", "episodic.location", "--steps", "4", "--eval-every", "2", "--log-every", "1",
              "--train-examples", "64", "--valid-examples", "8", "--batch-size", "8", "--grad-accum", "2", "--precision", "fp32",
              "--device", "cpu", "--seed", "3"]
RELATIVE_TOLERANCE = 1e-5


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
               "--master_addr=127.0.0.1", f"--master_port={_free_port()}", "-m", "neurosym", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    # The timeout only guards against a hung rendezvous; a loaded shared machine can take minutes.
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _losses(run: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if "loss" in r}


def _max_relative_difference(a: dict[int, float], b: dict[int, float]) -> float:
    return max(abs(a[step] - b[step]) / abs(a[step]) for step in a)


@pytest.fixture(scope="module")
def single_process_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one") / "run"
    torch.set_num_threads(1)
    assert main([*TRAIN_ARGS, "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_two_processes_match_one_process(single_process_run: Path, tmp_path: Path) -> None:
    result = _torchrun([*TRAIN_ARGS, "--out", "run"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    one, two = _losses(single_process_run), _losses(tmp_path / "run")
    assert sorted(two) == list(range(1, 5))
    assert _max_relative_difference(one, two) <= RELATIVE_TOLERANCE


@pytest.mark.slow
def test_resume_with_fewer_processes_matches(single_process_run: Path, tmp_path: Path) -> None:
    # Two processes train to step 2, then one process resumes the same run to step 4.
    result = _torchrun([*TRAIN_ARGS, "--out", "run", "--stop-after", "2"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert main([*TRAIN_ARGS, "--out", str(tmp_path / "run"), "--resume"]) == 0
    resumed = _losses(tmp_path / "run")
    assert sorted(resumed) == list(range(1, 5))
    assert _max_relative_difference(_losses(single_process_run), resumed) <= RELATIVE_TOLERANCE


def test_shard_splits_batch_in_order() -> None:
    items = list(range(7))
    parts = [shard(items, DistributedContext(rank=r, world_size=3)) for r in range(3)]
    assert parts == [[0, 1, 2], [3, 4], [5, 6]]


def test_shard_rejects_batch_smaller_than_world() -> None:
    with pytest.raises(ValueError, match="--batch-size of at least 4"):
        shard([1, 2], DistributedContext(rank=0, world_size=4))


def test_loss_share_is_one_in_single_process() -> None:
    labels = torch.tensor([[-100, 5, 6]])
    assert loss_share(labels, DistributedContext()) == 1.0
