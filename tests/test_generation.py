"""Generation engine: job validation and keys, per-image seeds, resume, atomicity, errors.

Runs the real diffusers code path on a tiny random StableDiffusionPipeline (see tiny_models).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from synthrec_core import generation as gen
from synthrec_core.config import ConfigError
from synthrec_core.generation import GenerationError, GenerationJob, generate
from synthrec_core.sets import SetMismatchError, SyntheticSet
from synthrec_core.utils import file_sha256
from tiny_models import tiny_sd, tiny_sd_dir, tiny_sd_img2img

REPO = Path(__file__).resolve().parents[1]
CLASSES = ("cat", "dog", "big bird")


@pytest.fixture(scope="module")
def pipe():
    torch.set_num_threads(1)
    return tiny_sd()


def make_job(out: Path | None = None, **kw) -> GenerationJob:
    values = dict(classnames=CLASSES, pipeline_id="tiny-sd", images_per_prompt=2, steps=4, batch_size=4)
    values.update(kw)
    return GenerationJob(**values, output_dir=str(out) if out else None)


def shas(s: SyntheticSet) -> dict[str, str]:
    return {p.relative_to(s.root).as_posix(): file_sha256(p) for p in sorted((s.root / "images").rglob("*.png"))}


# -- validation and keys --------------------------------------------------------------
@pytest.mark.parametrize(
    "change, needle",
    [
        (dict(classnames=()), "classnames is empty"),
        (dict(classnames=("cat", "cat")), "duplicate class names ['cat']"),
        (dict(classnames=("a b", "a/b")), "same folder name"),
        (dict(template="a photo of a cat"), "'a photo of a cat'"),
        (dict(images_per_prompt=0), "images_per_prompt=0"),
        (dict(steps=-3), "steps=-3"),
        (dict(height=30), "30x32"),
        (dict(scheduler="fancy"), "scheduler='fancy'"),
        (dict(guidance_scale=-1.0), "guidance_scale=-1.0"),
        (dict(strength=0.5), "strength=0.5"),
        (dict(sentences=(("a cat",), ("a dog",))), "2 entries for 3 classes"),
        (dict(pipeline_id=""), "pipeline_id=''"),
    ],
)
def test_bad_job_values_raise_config_error_naming_them(change, needle):
    with pytest.raises(ConfigError) as e:
        make_job(**change)
    assert needle in str(e.value)


def test_set_key_ignores_batch_size_device_and_output_dir(tmp_path):
    a = make_job(tmp_path / "a", batch_size=1, device="cpu")
    b = make_job(tmp_path / "b", batch_size=16, device="cuda")
    assert a.set_key == b.set_key


@pytest.mark.parametrize(
    "change",
    [dict(seed=1), dict(steps=5), dict(revision="abc"), dict(template="a drawing of a {}."),
     dict(guidance_scale=2.0), dict(scheduler="dpm++"), dict(classnames=("cat", "dog", "bird")),
     dict(images_per_prompt=3), dict(negative_prompt="blurry"), dict(pipeline_id="other"),
     dict(kernel_chunk=None), dict(kernel_chunk=2), dict(dtype="float16")],
)
def test_set_key_changes_with_everything_that_changes_images(change):
    assert make_job(**change).set_key != make_job().set_key


def test_reference_images_are_keyed_by_content_not_path(tmp_path):
    from PIL import Image

    paths = []
    for i in range(3):
        p = tmp_path / f"ref{i}.png"
        Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(p)
        paths.append(str(p))
    refs = tuple((p,) for p in paths)
    job = make_job(references=refs, strength=0.5)
    moved = tmp_path / "moved.png"
    moved.write_bytes(Path(paths[0]).read_bytes())
    assert make_job(references=((str(moved),), *refs[1:]), strength=0.5).set_key == job.set_key
    Image.new("RGB", (32, 32), (255, 255, 255)).save(moved)
    os.utime(moved, (1, 1))
    assert make_job(references=((str(moved),), *refs[1:]), strength=0.5).set_key != job.set_key


def test_per_image_seeds_are_distinct_and_stable():
    units = make_job(images_per_prompt=5).units()
    seeds = [u.seed for u in units]
    assert len(set(seeds)) == len(seeds) == 15
    assert seeds == [u.seed for u in make_job(images_per_prompt=5, batch_size=1).units()]
    assert [u.id for u in units[:2]] == ["cat/p0000_i000", "cat/p0000_i001"]
    assert len({u.id for u in units}) == len(units) and units[-1].relpath == "images/big_bird/p0000_i004.png"


# -- images ---------------------------------------------------------------------------
def test_batch_size_one_and_four_give_byte_identical_pngs(pipe, tmp_path):
    a = generate(make_job(tmp_path / "a", batch_size=1, images_per_prompt=3), pipe, progress=False)
    b = generate(make_job(tmp_path / "b", batch_size=4, images_per_prompt=3), pipe, progress=False)
    assert shas(a) == shas(b) and len(shas(a)) == 9
    assert (a.root / "manifest.jsonl").read_bytes() == (b.root / "manifest.jsonl").read_bytes()
    assert len(set(shas(a).values())) == 9  # all images differ


def test_batch_invariance_holds_at_64px_for_batches_of_1_5_and_16(pipe, tmp_path):
    # at 64 px plain batched float32 kernels flip a few pixels of about half of the images
    kw = dict(classnames=("cat",), images_per_prompt=16, height=64, width=64)
    runs = [shas(generate(make_job(tmp_path / f"b{bs}", batch_size=bs, **kw), pipe, progress=False)) for bs in (1, 5, 16)]
    assert runs[0] == runs[1] == runs[2] and len(runs[0]) == 16


def test_batch_invariant_kernels_are_restored_after_use():
    import torch.nn.functional as F

    before = (torch.nn.Conv2d.forward, torch.nn.Linear.forward, F.scaled_dot_product_attention)
    conv, conv1, ln, lin = torch.nn.Conv2d(2, 4, 3), torch.nn.Conv1d(3, 2, 3), torch.nn.LayerNorm(6), torch.nn.Linear(6, 2)
    x, x1, x2 = torch.randn(5, 2, 5, 5), torch.randn(3, 7), torch.randn(6)  # batch 5 (padded chunk), unbatched inputs
    q = torch.randn(5, 2, 4, 8)
    mask = torch.rand(5, 1, 4, 4) > 0.3
    mask[..., 0] = True
    with gen.batch_invariant_kernels(chunk=4):
        assert torch.nn.Conv2d.forward is not before[0]
        got = (conv(x), conv1(x1), ln(x2), lin(x2), F.scaled_dot_product_attention(q, q, q, mask))
    assert (torch.nn.Conv2d.forward, torch.nn.Linear.forward, F.scaled_dot_product_attention) == before
    want = (conv(x), conv1(x1), ln(x2), lin(x2), F.scaled_dot_product_attention(q, q, q, mask))
    for g, w in zip(got, want):
        assert g.shape == w.shape
        torch.testing.assert_close(g, w)


def test_set_layout_manifest_card_and_complete_marker(pipe, tmp_path):
    job = make_job(tmp_path / "s", sentences=(("a cat", "a small cat"), ("a dog",), ("a bird",)), images_per_prompt=1)
    s = generate(job, pipe, progress=False)
    assert s.is_complete and (s.root / "dataset_card.md").exists() and s.key == job.set_key
    m = s.manifest()
    assert len(m) == len(job) == 4
    row = m.iloc[1]
    assert (row["class"], row["class_index"], row["prompt"], row["id"]) == ("cat", 0, "a small cat", "cat/p0001_i000")
    assert row["sha256"] == file_sha256(s.root / row["path"])
    assert (s.root / "images/big_bird/p0000_i000.png").exists()
    assert "tiny-sd" in (s.root / "dataset_card.md").read_text()


def test_any_image_can_be_regenerated_alone(pipe, tmp_path):
    s = generate(make_job(tmp_path / "s"), pipe, progress=False)
    before = shas(s)
    victim = s.root / "images/dog/p0000_i001.png"
    victim.unlink()
    (s.root / "COMPLETE").unlink()
    calls = []
    orig = gen._call_pipeline
    gen._call_pipeline = lambda p, j, b: calls.append(len(b)) or orig(p, j, b)
    try:
        generate(make_job(tmp_path / "s"), pipe, progress=False)
    finally:
        gen._call_pipeline = orig
    assert calls == [1] and shas(s) == before


def test_complete_set_is_not_regenerated(pipe, tmp_path):
    generate(make_job(tmp_path / "s"), pipe, progress=False)
    assert generate(make_job(tmp_path / "s"), pipeline=object(), progress=False).is_complete  # pipeline never called


def test_output_dir_holding_another_set_is_refused(pipe, tmp_path):
    generate(make_job(tmp_path / "s"), pipe, progress=False)
    with pytest.raises(SetMismatchError, match="holds a different set"):
        generate(make_job(tmp_path / "s", seed=7), pipe, progress=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.txt").write_text("x")
    with pytest.raises(SetMismatchError, match="not empty"):
        generate(make_job(tmp_path / "junk"), pipe, progress=False)


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "disk full"), (errno.EACCES, "permission denied")])
def test_write_error_mid_run_keeps_done_images_and_leaves_no_partial_files(pipe, tmp_path, monkeypatch, code, words):
    import synthrec_core.utils as utils

    real_fsync, n = os.fsync, {"calls": 0}

    def failing_fsync(fd):
        n["calls"] += 1
        if n["calls"] > 2 + 3:  # job.json, run.json, then 3 images succeed
            raise OSError(code, os.strerror(code))
        real_fsync(fd)

    monkeypatch.setattr(utils.os, "fsync", failing_fsync)
    job = make_job(tmp_path / "s")
    with pytest.raises(GenerationError, match=words) as e:
        generate(job, pipe, progress=False)
    assert "resume" in str(e.value)
    s = SyntheticSet(tmp_path / "s")
    kept = list((s.root / "images").rglob("*.png"))
    assert len(kept) == 3 and not s.is_complete
    assert not [p for p in s.root.rglob("*") if p.name.endswith(".tmp")]
    monkeypatch.setattr(utils.os, "fsync", real_fsync)
    ref = generate(make_job(tmp_path / "ref"), pipe, progress=False)
    assert shas(generate(job, pipe, progress=False)) == shas(ref)


def test_stale_temp_files_from_a_killed_run_are_removed(pipe, tmp_path):
    job = make_job(tmp_path / "s")
    (tmp_path / "s").mkdir()
    gen._claim_dir(job, tmp_path / "s")
    (tmp_path / "s" / "images" / "cat").mkdir(parents=True)
    stale = tmp_path / "s" / "images" / "cat" / ".p0000_i000.png.abc.tmp"
    stale.write_bytes(b"\x89PNG half")
    broken = tmp_path / "s" / "images" / "cat" / "p0000_i001.png"
    broken.write_bytes(b"\x89PNG truncated")
    s = generate(job, pipe, progress=False)
    assert not stale.exists() and s.is_complete
    assert shas(s) == shas(generate(make_job(tmp_path / "ref"), pipe, progress=False))


def test_real_guidance_uses_img2img_and_records_references(tmp_path):
    from PIL import Image

    refs = []
    for c in range(3):
        paths = []
        for k in range(2):
            p = tmp_path / f"real_{c}_{k}.png"
            Image.new("RGB", (32, 32), (60 * c, 30 * k, 128)).save(p)
            paths.append(str(p))
        refs.append(tuple(paths))
    i2i = tiny_sd_img2img()
    job = make_job(tmp_path / "rg", references=tuple(refs), strength=0.5, steps=8, images_per_prompt=1)
    s = generate(job, i2i, progress=False)
    m = s.manifest()
    assert len(m) == 6 and set(m["id"].str.split("/").str[1]) == {"r000_p0000_i000", "r001_p0000_i000"}
    assert m.loc[0, "reference"] == file_sha256(refs[0][0]) and float(m.loc[0, "strength"]) == 0.5
    again = generate(make_job(tmp_path / "rg2", references=tuple(refs), strength=0.5, steps=8, images_per_prompt=1, batch_size=1), i2i, progress=False)
    assert shas(again) == shas(s)


def test_scheduler_is_applied_and_recorded(pipe, tmp_path):
    ddim = generate(make_job(tmp_path / "a", scheduler="ddim"), pipe, progress=False)
    dpm = generate(make_job(tmp_path / "b", scheduler="dpm++"), pipe, progress=False)
    assert type(pipe.scheduler).__name__ == "DDIMScheduler"  # the caller's pipeline is left as it was
    assert set(dpm.manifest()["scheduler"]) == {"dpm++"}
    assert shas(ddim) != shas(dpm)


def test_pipeline_is_loaded_from_its_id_when_not_given(pipe, tmp_path):
    job = make_job(tmp_path / "a", pipeline_id=str(tiny_sd_dir()))
    loaded = generate(job, progress=False)
    given = generate(make_job(tmp_path / "b", pipeline_id=str(tiny_sd_dir())), pipe, progress=False)
    assert shas(loaded) == shas(given)
    assert set(loaded.manifest()["pipeline_id"]) == {str(tiny_sd_dir())}


# -- crash and resume -----------------------------------------------------------------
def _subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'tests'}", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    return env


def write_job_file(path: Path, job: GenerationJob) -> Path:
    values = job.to_dict()
    path.write_text(json.dumps(values))
    return path


def test_resume_after_sigkill_is_byte_identical(pipe, tmp_path):
    model = str(tiny_sd_dir())
    job = make_job(tmp_path / "killed", pipeline_id=model, images_per_prompt=8, steps=20, batch_size=4)
    jf = write_job_file(tmp_path / "job.json", job)
    cmd = [sys.executable, "-m", "synthrec_core.generation", "--job", str(jf), "--no-progress"]
    proc = subprocess.Popen(cmd, env=_subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    images = tmp_path / "killed" / "images"
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if len(list(images.rglob("*.png"))) >= 5:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "generation finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = len(list(images.rglob("*.png")))
    assert 5 <= done < 24 and not (tmp_path / "killed" / "COMPLETE").exists()

    generate(job, progress=False)  # resume (in-process, loading the pipeline from its id like the CLI)
    ref = generate(make_job(tmp_path / "ref", pipeline_id=model, images_per_prompt=8, steps=20, batch_size=3), pipe, progress=False)
    killed = SyntheticSet(tmp_path / "killed")
    assert killed.is_complete
    assert shas(killed) == shas(ref) and len(shas(ref)) == 24
    assert (killed.root / "manifest.jsonl").read_bytes() == (ref.root / "manifest.jsonl").read_bytes()
    assert not [p for p in killed.root.rglob("*") if p.name.endswith(".tmp")]


def test_job_round_trips_through_its_set_job_json(pipe, tmp_path):
    job = make_job(tmp_path / "s", sentences=(("a cat",), ("a dog", "two dogs"), ("a bird",)))
    s = generate(job, pipe, progress=False)
    again = GenerationJob.from_json(s.root / "job.json")
    assert again.set_key == job.set_key and again.sentences == job.sentences
    bad = json.loads((s.root / "job.json").read_text())
    bad["steps"] = 99
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match="does not match"):
        GenerationJob.from_json(tmp_path / "bad.json")


@pytest.mark.slow  # 2 torch threads on a shared 2-core machine spin-wait: ~40 s here, ~5 s when idle
def test_resume_with_another_thread_count_uses_the_first_runs_threads(pipe, tmp_path, monkeypatch):
    import synthrec_core.utils as utils

    kw = dict(classnames=("cat",), images_per_prompt=16, height=64, width=64, batch_size=4, steps=2)  # some differ unpinned
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        ref = shas(generate(make_job(tmp_path / "ref", **kw), pipe, progress=False))
        real_fsync, n = os.fsync, {"calls": 0}

        def failing_fsync(fd):
            n["calls"] += 1
            if n["calls"] > 2 + 4:  # job.json, run.json, then the first batch
                raise OSError(errno.ENOSPC, "No space left on device")
            real_fsync(fd)

        monkeypatch.setattr(utils.os, "fsync", failing_fsync)
        with pytest.raises(GenerationError):
            generate(make_job(tmp_path / "s", **kw), pipe, progress=False)
        monkeypatch.setattr(utils.os, "fsync", real_fsync)
        assert json.loads((tmp_path / "s" / "run.json").read_text())["cpu_threads"] == 2
        torch.set_num_threads(1)
        assert shas(generate(make_job(tmp_path / "s", **kw), pipe, progress=False)) == ref
        assert torch.get_num_threads() == 1  # restored after the run
    finally:
        torch.set_num_threads(old)
