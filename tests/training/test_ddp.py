"""Two-process DDP on the CPU (gloo): the run completes and the ranks see disjoint samples."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch.multiprocessing as mp

from tests.training.test_data import make_tiny_dataset, tiny_config
from training import checkpoint as ckpt

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker(rank: int, world_size: int, port: int, data_root: str, out: str) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        OMP_NUM_THREADS="1",
    )
    import torch

    torch.set_num_threads(1)
    from training.data import MultiLabelDataset
    from training.runs import train_run

    seen: list[tuple[int, int]] = []
    original = MultiLabelDataset.__getitem__

    def spy(self: MultiLabelDataset, index: int):  # type: ignore[no-untyped-def]
        seen.append((len(self), index))
        return original(self, index)

    MultiLabelDataset.__getitem__ = spy  # type: ignore[method-assign]
    root = Path(data_root)
    result = train_run(
        tiny_config(epochs=1, batch_size=4),
        manifest=root / "manifest.jsonl",
        taxonomy=root / "taxonomy.json",
        images_root=root,
        run_dir=Path(out) / "run",
    )
    Path(out, f"rank{rank}.json").write_text(json.dumps({"seen": seen, "steps": result.history[0]["steps"]}))


def test_two_process_gloo_run_shards_the_data(tmp_path: Path) -> None:
    data = make_tiny_dataset(tmp_path / "data", n=32)  # 24 train images, 8 val
    mp.start_processes(_worker, args=(2, _free_port(), str(data.root), str(tmp_path)), nprocs=2, start_method="spawn")
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    train = [{i for size, i in report["seen"] if size == 24} for report in reports]
    val = [{i for size, i in report["seen"] if size == 8} for report in reports]
    assert all(report["steps"] == 3 for report in reports)  # 12 images per rank, batches of 4
    assert not train[0] & train[1]
    assert train[0] | train[1] == set(range(24))
    assert not val[0] & val[1] and val[0] | val[1] == set(range(8))
    metrics = ckpt.read_json(tmp_path / "run" / "metrics.json")
    assert metrics["images"] == 8  # every val image scored once, gathered on rank 0
    assert ckpt.load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"] == 1


@pytest.mark.slow
def test_torchrun_cli(tmp_path: Path) -> None:
    data = make_tiny_dataset(tmp_path / "data", n=32)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(_free_port()),
        "-m",
        "training",
        "train",
        "--manifest",
        str(data.manifest),
        "--taxonomy",
        str(data.taxonomy),
        "--images-root",
        str(data.root),
        "--out",
        str(tmp_path / "run"),
        "--set",
        "backbone=tiny_cnn",
        "--set",
        "image_size=32",
        "--set",
        "batch_size=4",
        "--set",
        "epochs=1",
        "--set",
        "num_workers=0",
        "--set",
        "device=cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("mAP:") == 1  # only rank 0 reports
    assert (tmp_path / "run" / "metrics.json").exists()
