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
    values = dict(classnames=CLASSES, pipeline_id=str(tiny_sd_dir()), images_per_prompt=2, steps=4, batch_size=4, micro_batch=8)
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
        (dict(sentences=(("a cat", "a cat"), ("a dog",), ("a bird",))), "repeat a prompt"),
        (dict(pipeline_id=""), "pipeline_id=''"),
        (dict(micro_batch=0), "micro_batch=0"),
        (dict(workers=0), "workers=0"),
    ],
)
def test_bad_job_values_raise_config_error_naming_them(change, needle):
    with pytest.raises(ConfigError) as e:
        make_job(**change)
    assert needle in str(e.value)


def test_set_key_ignores_batch_size_workers_device_and_output_dir(tmp_path):
    a = make_job(tmp_path / "a", batch_size=1, device="cpu", workers=1).resolved()
    b = make_job(tmp_path / "b", batch_size=16, device="cuda", workers=2).resolved()
    assert a.set_key == b.set_key


@pytest.mark.parametrize(
    "change",
    [dict(seed=1), dict(steps=5), dict(revision="abc"), dict(template="a drawing of a {}."),
     dict(guidance_scale=2.0), dict(scheduler="dpm++"), dict(classnames=("cat", "dog", "bird")),
     dict(images_per_prompt=3), dict(negative_prompt="blurry"), dict(weights="other"),
     dict(micro_batch=16), dict(dtype="float16")],
)
def test_set_key_changes_with_everything_that_changes_images(change):
    base = dict(weights="w0")
    assert make_job(**{**base, **change}).set_key != make_job(**base).set_key


def test_an_unresolved_job_has_no_key():
    with pytest.raises(ConfigError, match="not resolved"):
        make_job(pipeline_id="some-label").set_key


def test_a_mistyped_local_pipeline_path_says_folder_not_found(tmp_path):
    for bad in (str(tmp_path / "no_such_pipeline"), "./no_such_pipeline", "~/no/such/pipeline"):
        with pytest.raises(ConfigError, match="folder not found"):
            make_job(pipeline_id=bad).resolved()


def test_a_rebuilt_local_pipeline_folder_gets_a_new_key_and_new_images(pipe, tmp_path):
    import shutil

    from diffusers import StableDiffusionPipeline

    folder = tmp_path / "sd"
    shutil.copytree(tiny_sd_dir(), folder)
    job = make_job(pipeline_id=str(folder), classnames=("cat",))
    first = generate(job, progress=False)
    rebuilt = StableDiffusionPipeline.from_pretrained(str(folder), safety_checker=None, requires_safety_checker=False)
    with torch.no_grad():
        for p in rebuilt.unet.parameters():
            p.add_(0.05)
    rebuilt.save_pretrained(str(folder))
    second = generate(job, progress=False)
    assert second.key != first.key and second.root != first.root
    assert set(shas(second).values()).isdisjoint(shas(first).values())


def test_reference_images_are_keyed_by_content_not_path(tmp_path):
    from PIL import Image

    paths = []
    for i in range(3):
        p = tmp_path / f"ref{i}.png"
        Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(p)
        paths.append(str(p))
    refs = tuple((p,) for p in paths)
    job = make_job(references=refs, strength=0.5, weights="w")
    moved = tmp_path / "moved.png"
    moved.write_bytes(Path(paths[0]).read_bytes())
    assert make_job(references=((str(moved),), *refs[1:]), strength=0.5, weights="w").set_key == job.set_key
    Image.new("RGB", (32, 32), (255, 255, 255)).save(moved)
    os.utime(moved, (1, 1))
    assert make_job(references=((str(moved),), *refs[1:]), strength=0.5, weights="w").set_key != job.set_key


def test_per_image_seeds_are_distinct_stable_and_do_not_depend_on_the_set():
    units = make_job(images_per_prompt=5).units()
    seeds = [u.seed for u in units]
    assert len(set(seeds)) == len(seeds) == 15
    assert seeds == [u.seed for u in make_job(images_per_prompt=5, batch_size=1).units()]
    assert [u.id for u in units[:2]] == ["cat/p0000_i000", "cat/p0000_i001"]
    assert len({u.id for u in units}) == len(units) and units[-1].relpath == "images/big_bird/p0000_i004.png"
    small = {u.id: u.seed for u in make_job(images_per_prompt=2, classnames=("dog", "cat")).units()}
    big = {u.id: u.seed for u in units}
    assert all(big[k] == v for k, v in small.items())  # a smaller set's images are in the larger one
    more = {(u.classname, u.prompt, u.image_index): u.seed
            for u in make_job(sentences=(("a photo of a cat.", "a cat"), ("a dog",), ("a bird",)), images_per_prompt=5).units()}
    assert more["cat", "a photo of a cat.", 3] == big["cat/p0000_i003"]  # same prompt text, same index: same seed


# -- images ---------------------------------------------------------------------------
def test_batch_size_one_and_four_give_byte_identical_pngs(pipe, tmp_path):
    a = generate(make_job(tmp_path / "a", batch_size=1, images_per_prompt=3), pipe, progress=False)
    b = generate(make_job(tmp_path / "b", batch_size=4, images_per_prompt=3), pipe, progress=False)
    assert shas(a) == shas(b) and len(shas(a)) == 9
    assert (a.root / "manifest.jsonl").read_bytes() == (b.root / "manifest.jsonl").read_bytes()
    assert len(set(shas(a).values())) == 9  # all images differ


def test_batch_invariance_holds_at_64px_for_batches_of_1_5_and_16(pipe, tmp_path):
    # at 64 px plain float32 kernels at different batch shapes flip a few pixels of about half of the images
    kw = dict(classnames=("cat",), images_per_prompt=16, height=64, width=64, micro_batch=16)
    runs = [shas(generate(make_job(tmp_path / f"b{bs}", batch_size=bs, **kw), pipe, progress=False)) for bs in (1, 5, 16)]
    assert runs[0] == runs[1] == runs[2] and len(runs[0]) == 16


def test_a_set_made_at_batch_1_equals_the_set_made_at_batch_32_with_the_default_micro_batch(pipe, tmp_path):
    kw = dict(classnames=("cat", "dog"), images_per_prompt=16, micro_batch=32, steps=2)
    one = generate(make_job(tmp_path / "b1", batch_size=1, **kw), pipe, progress=False)
    full = generate(make_job(tmp_path / "b32", batch_size=32, **kw), pipe, progress=False)
    assert shas(one) == shas(full) and len(shas(one)) == 32


def test_workers_and_torch_threads_do_not_change_images(pipe, tmp_path):
    kw = dict(classnames=("cat",), images_per_prompt=12, height=64, width=64, micro_batch=4, steps=2)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two = shas(generate(make_job(tmp_path / "w2", workers=2, **kw), pipe, progress=False))
        assert torch.get_num_threads() == 2  # restored after the run
        torch.set_num_threads(1)
        one = shas(generate(make_job(tmp_path / "w1", workers=1, **kw), pipe, progress=False))
    finally:
        torch.set_num_threads(old)
    assert one == two and len(one) == 12


def test_a_larger_set_contains_the_smaller_ones_images(pipe, tmp_path):
    small = generate(make_job(tmp_path / "small", images_per_prompt=2, classnames=("dog",)), pipe, progress=False)
    big = generate(make_job(tmp_path / "big", images_per_prompt=5), pipe, progress=False)
    assert all(shas(big)[k] == v for k, v in shas(small).items()) and len(shas(small)) == 2


def test_the_image_store_serves_images_a_set_shares_with_an_earlier_one(pipe, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHREC_IMAGE_STORE", "1")
    monkeypatch.setenv("SYNTHREC_CACHE", str(tmp_path / "cache"))
    big = generate(make_job(tmp_path / "big", images_per_prompt=3), pipe, progress=False)
    calls = []
    orig = gen._call
    monkeypatch.setattr(gen, "_call", lambda p, j, b, c: calls.append(len(b)) or orig(p, j, b, c))
    small = generate(make_job(tmp_path / "small", images_per_prompt=2, classnames=("dog", "cat")), pipe, progress=False)
    assert calls == [] and small.is_complete  # every image came from the store
    assert all(shas(big)[k] == v for k, v in shas(small).items())
    more = generate(make_job(tmp_path / "more", images_per_prompt=4, classnames=("cat",)), pipe, progress=False)
    assert calls == [1] and len(shas(more)) == 4  # only the one new image was made


def test_set_layout_manifest_card_and_complete_marker(pipe, tmp_path):
    job = make_job(tmp_path / "s", sentences=(("a cat", "a small cat"), ("a dog",), ("a bird",)), images_per_prompt=1)
    s = generate(job, pipe, progress=False)
    assert s.is_complete and (s.root / "dataset_card.md").exists() and s.key == job.resolved().set_key
    m = s.manifest()
    assert len(m) == len(job) == 4
    row = m.iloc[1]
    assert (row["class"], row["class_index"], row["prompt"], row["id"]) == ("cat", 0, "a small cat", "cat/p0001_i000")
    assert row["sha256"] == file_sha256(s.root / row["path"])
    assert row["weights"].startswith("files:") and int(row["micro_batch"]) == 8
    assert (s.root / "images/big_bird/p0000_i000.png").exists()
    assert str(tiny_sd_dir()) in (s.root / "dataset_card.md").read_text()


def test_any_image_can_be_regenerated_alone(pipe, tmp_path, monkeypatch):
    s = generate(make_job(tmp_path / "s"), pipe, progress=False)
    before = shas(s)
    victim = s.root / "images/dog/p0000_i001.png"
    victim.unlink()
    (s.root / "COMPLETE").unlink()
    calls = []
    orig = gen._call
    monkeypatch.setattr(gen, "_call", lambda p, j, b, c: calls.append(len(b)) or orig(p, j, b, c))
    generate(make_job(tmp_path / "s"), pipe, progress=False)
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
        if n["calls"] > 2 + 4:  # job.json, run.json, then the first call's 4 images succeed
            raise OSError(code, os.strerror(code))
        real_fsync(fd)

    monkeypatch.setattr(utils.os, "fsync", failing_fsync)
    job = make_job(tmp_path / "s")
    with pytest.raises(GenerationError, match=words) as e:
        generate(job, pipe, progress=False)
    assert "resume" in str(e.value)
    s = SyntheticSet(tmp_path / "s")
    kept = list((s.root / "images").rglob("*.png"))
    assert len(kept) == 4 and not s.is_complete
    assert not [p for p in s.root.rglob("*") if p.name.endswith(".tmp")]
    monkeypatch.setattr(utils.os, "fsync", real_fsync)
    ref = generate(make_job(tmp_path / "ref"), pipe, progress=False)
    assert shas(generate(job, pipe, progress=False)) == shas(ref)


def test_stale_temp_files_from_a_killed_run_are_removed(pipe, tmp_path):
    job = make_job(tmp_path / "s")
    (tmp_path / "s").mkdir()
    gen._claim_dir(job.resolved(), tmp_path / "s")
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
    job = make_job(tmp_path / "a")
    loaded = generate(job, progress=False)
    given = generate(make_job(tmp_path / "b"), pipe, progress=False)
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
    job = make_job(tmp_path / "killed", pipeline_id=model, images_per_prompt=8, steps=20, batch_size=2, workers=1)
    jf = write_job_file(tmp_path / "job.json", job)
    cmd = [sys.executable, "-m", "synthrec_core.cli", "generate", "--job", str(jf), "--no-progress"]
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
    assert again.set_key == job.resolved().set_key and again.sentences == job.sentences
    bad = json.loads((s.root / "job.json").read_text())
    bad["steps"] = 99
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match="does not match"):
        GenerationJob.from_json(tmp_path / "bad.json")
