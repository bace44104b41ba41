"""Set handles, keyed side tables and exports (Hugging Face imagefolder, WebDataset)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from synthrec_core.filtering import clip_filter, save_decisions
from synthrec_core.generation import GenerationJob, generate
from synthrec_core.sets import SyntheticSet, export_hf_imagefolder, export_webdataset
from synthrec_core.utils import file_sha256


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from tiny_models import tiny_sd

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("set") / "s"
    job = GenerationJob(classnames=("cat", "dog", "sea lion"), pipeline_id="tiny-sd", images_per_prompt=3, steps=2, output_dir=str(out))
    return generate(job, tiny_sd(), progress=False)


def test_handle_reads_job_manifest_and_images(synth):
    assert synth.is_complete and synth.classnames == ["cat", "dog", "sea lion"]
    m = synth.manifest()
    assert len(m) == 9 and synth.labels() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    ims = synth.load_images(["dog/p0000_i002"])
    assert len(ims) == 1 and ims[0].size == (32, 32)


def test_incomplete_or_foreign_dirs_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a synthetic set"):
        SyntheticSet(tmp_path).job
    with pytest.raises(FileNotFoundError, match="no manifest.jsonl"):
        SyntheticSet(tmp_path).manifest()


def test_decisions_are_a_keyed_table_that_leaves_the_manifest_alone(synth):
    before = (synth.root / "manifest.jsonl").read_bytes()
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((9, 4))
    d = clip_filter(feats, synth.labels(), rng.standard_normal((3, 4)), ids=synth.manifest()["id"], keep_per_class=2)
    name = save_decisions(synth, d, "cf", {"encoder": "x", "k": 2})
    assert name.startswith("cf-") and name in synth.tables()
    assert save_decisions(synth, d, "cf", {"encoder": "y", "k": 2}) != name
    j = synth.joined(name)
    assert len(j) == 9 and j["kept"].sum() == 6 and j["class"].iloc[0] == "cat"
    assert (synth.root / "manifest.jsonl").read_bytes() == before
    with pytest.raises(ValueError, match="needs an 'id' column"):
        synth.write_table("bad", pd.DataFrame({"x": [1]}))


def test_export_hf_imagefolder_loads_with_datasets(synth, tmp_path):
    import datasets

    d = pd.DataFrame({"id": synth.manifest()["id"], "kept": [True, False, True] * 3})
    out = export_hf_imagefolder(synth, tmp_path / "hf", decisions=d)
    ds = datasets.load_dataset("imagefolder", data_dir=str(out), split="train", cache_dir=str(tmp_path / "hf_cache"))
    assert len(ds) == 6
    assert sorted(set(ds["class_index"])) == [0, 1, 2]
    row = ds[0]
    assert row["image"].size == (32, 32) and "photo" in row["prompt"]
    assert (out / "README.md").exists()


def test_export_webdataset_round_trips(synth, tmp_path):
    import webdataset as wds

    shards = export_webdataset(synth, tmp_path / "wds", shard_size=4)
    assert [p.name for p in shards] == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    samples = list(wds.WebDataset([str(p) for p in shards], shardshuffle=False))
    assert len(samples) == 9
    m = synth.manifest().set_index("id")
    for s in samples:
        row = m.loc[s["__key__"]]
        assert int(s["cls"]) == row["class_index"]
        import hashlib

        assert hashlib.sha256(s["png"]).hexdigest() == row["sha256"] == file_sha256(synth.root / row["path"])
        meta = json.loads(s["json"])  # strict JSON: no NaN
        assert meta["negative_prompt"] is None and meta["id"] == s["__key__"]


def test_one_call_filters_on_a_set_save_keyed_tables(synth, tmp_path):
    from torch import nn
    from torchvision import transforms as T

    from synthrec_core.filtering import clip_filter_set, real_filter_set

    torch.manual_seed(0)
    enc = (nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()), T.ToTensor(), "tiny")
    text = np.random.default_rng(0).standard_normal((3, 4))
    name, d = clip_filter_set(synth, enc, text, keep_per_class=2, cache_root=tmp_path)
    assert name.startswith("cf-") and synth.read_table(name)["kept"].sum() == 6
    assert clip_filter_set(synth, enc, text, keep_per_class=1, cache_root=tmp_path)[0] != name
    real = np.random.default_rng(1).integers(0, 255, (6, 32, 32, 3), dtype=np.uint8)
    rname, r = real_filter_set(synth, enc, real, [0, 0, 1, 1, 2, 2], cache_root=tmp_path)
    assert rname.startswith("rf-") and len(r) == 9 and set(r["id"]) == set(synth.manifest()["id"])
