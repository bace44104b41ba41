"""Distributed generation: torchrun with 2 gloo ranks on CPU makes the same set as 1 process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from synthrec_core.generation import GenerationJob, generate
from synthrec_core.sets import SyntheticSet
from synthrec_core.utils import file_sha256
from tiny_models import tiny_sd, tiny_sd_dir

REPO = Path(__file__).resolve().parents[1]


def _torchrun(job_file: Path, out: Path, nproc: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'tests'}", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    torchrun = Path(sys.executable).with_name("torchrun")
    launcher = [str(torchrun)] if torchrun.exists() else [sys.executable, "-m", "torch.distributed.run"]
    cmd = [*launcher, "--nproc_per_node", str(nproc), "--master_port", str(29500 + os.getpid() % 1000 + nproc),
           "-m", "synthrec_core.cli", "generate", "--job", str(job_file), "--output-dir", str(out), "--no-progress"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def _shas(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): file_sha256(p) for p in sorted((root / "images").rglob("*.png"))}


def test_two_ranks_match_one_rank(tmp_path):
    job = GenerationJob(classnames=("cat", "dog", "owl"), pipeline_id=str(tiny_sd_dir()), images_per_prompt=5, steps=4, batch_size=2)
    jf = tmp_path / "job.json"
    jf.write_text(json.dumps(job.to_dict()))
    two = _torchrun(jf, tmp_path / "two", 2)
    assert two.returncode == 0, two.stderr[-3000:]
    torch.set_num_threads(1)
    generate(job.replace(output_dir=str(tmp_path / "one"), batch_size=3), tiny_sd(), progress=False)  # one process
    a, b = SyntheticSet(tmp_path / "one"), SyntheticSet(tmp_path / "two")
    assert a.is_complete and b.is_complete and a.key == b.key == job.resolved().set_key
    assert _shas(a.root) == _shas(b.root) and len(_shas(a.root)) == 15
    assert (a.root / "manifest.jsonl").read_bytes() == (b.root / "manifest.jsonl").read_bytes()
    assert (a.root / "dataset_card.md").read_bytes() == (b.root / "dataset_card.md").read_bytes()


@pytest.mark.slow  # a second torchrun launch (~30 s on a loaded machine)
def test_a_failing_rank_stops_every_rank_without_hanging(tmp_path):
    from synthrec_core.generation import _claim_dir

    job = GenerationJob(classnames=("cat", "dog"), pipeline_id=str(tiny_sd_dir()), images_per_prompt=1, steps=2)
    out = tmp_path / "set"
    out.mkdir()
    _claim_dir(job.replace(output_dir=str(out)).resolved(), out)
    (out / "images").mkdir()
    (out / "images" / "dog").write_text("a file where rank 1's class folder should be")
    jf = tmp_path / "job.json"
    jf.write_text(json.dumps(job.to_dict()))
    r = _torchrun(jf, out, 2)
    assert r.returncode != 0
    assert "could not write" in r.stderr and "another rank failed" in r.stderr
    assert (out / "images" / "cat" / "p0000_i000.png").exists()  # rank 0's image is kept
    assert not (out / "COMPLETE").exists()
