"""All 17 zero-shot datasets of the paper's Table 1 are registered, named right, and fail fast.

Class names are checked on tiny fake folders built here (a few classes, tiny images) in each
dataset's documented layout; no test touches the network. Offline, an absent dataset must fail
within seconds with a message naming it and saying how to get it, without trying torchvision.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthrec_core.config import ConfigError
from synthrec_core.data import DatasetUnavailable, dataset_spec, list_datasets, load_dataset, select_classes
from synthrec_core.data import classnames as cn
from synthrec_core.data import online
from synthrec_core.data.registry import TABLE1_DATASETS
from synthrec_core.data.sources import EXPECTED_DIR

NEW = ["caltech256", "birdsnap", "cub", "imagenet_sketch", "imagenet_r"]
TABLE1_CLASSES = {"cifar10": 10, "cifar100": 100, "caltech101": 100, "caltech256": 257, "imagenet": 1000,
                  "sun397": 397, "fgvc_aircraft": 100, "birdsnap": 500, "stanford_cars": 196, "cub": 200,
                  "flowers102": 102, "food101": 101, "oxford_pets": 37, "dtd": 47, "eurosat": 10,
                  "imagenet_sketch": 1000, "imagenet_r": 200}


def _img(path: Path, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4, 3), value, np.uint8)).save(path)


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def no_torchvision(monkeypatch):
    """Fail the test if a loader reaches for torchvision (an import or a download)."""
    def forbidden():
        raise AssertionError("torchvision was called")

    monkeypatch.setattr(online, "_tv", forbidden)


# -- the registry -----------------------------------------------------------------------------
def test_table1_datasets_all_registered_with_their_class_counts():
    assert len(TABLE1_DATASETS) == 17 and len(set(TABLE1_DATASETS)) == 17
    assert set(TABLE1_DATASETS) <= set(list_datasets("paper"))
    assert {n: dataset_spec(n).num_classes for n in TABLE1_DATASETS} == TABLE1_CLASSES
    # test-only sets and sets without a split are carved; CUB and Birdsnap ship a test split
    assert {n: dataset_spec(n).official_split for n in NEW} == {
        "caltech256": "none", "birdsnap": "train/test", "cub": "train/test",
        "imagenet_sketch": "none", "imagenet_r": "none"}


@pytest.mark.parametrize("env", ["HF_HUB_OFFLINE", "SYNTHREC_OFFLINE"])
@pytest.mark.parametrize("name", NEW)
def test_absent_new_dataset_fails_fast_offline_without_download(tmp_path, monkeypatch, no_torchvision, env, name):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv(env, "1")
    t0 = time.perf_counter()
    with pytest.raises(DatasetUnavailable) as err:
        load_dataset(name, root=tmp_path)
    assert time.perf_counter() - t0 < 5.0
    msg = str(err.value)
    assert repr(name) in msg and "To get it" in msg and EXPECTED_DIR[name].split("/")[0] in msg
    assert not any(tmp_path.iterdir())  # nothing created, nothing downloaded


@pytest.mark.parametrize("name", ["birdsnap", "cub", "imagenet_sketch", "imagenet_r"])
def test_folder_datasets_never_download_even_online(tmp_path, monkeypatch, no_torchvision, name):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("SYNTHREC_OFFLINE", raising=False)
    with pytest.raises(DatasetUnavailable, match="no automatic download"):
        load_dataset(name, root=tmp_path)


# -- Caltech-256 ------------------------------------------------------------------------------
def test_caltech256_name_rule():
    assert cn.caltech256_name("001.ak47") == "ak47"
    assert cn.caltech256_name("002.american-flag") == "american flag"
    assert cn.caltech256_name("063.electric-guitar-101") == "electric guitar"
    assert cn.caltech256_name("253.faces-easy-101") == "face"
    assert cn.caltech256_name("232.t-shirt") == "t-shirt"
    assert cn.caltech256_name("257.clutter") == "clutter"


def test_caltech256_from_a_folder(tmp_path, offline):
    folders = ["001.ak47", "002.american-flag", "063.electric-guitar-101", "253.faces-easy-101", "257.clutter"]
    base = tmp_path / "caltech256" / "256_ObjectCategories"
    for y, folder in enumerate(folders):
        for i in range(1, 5):
            _img(base / folder / f"{y + 1:03d}_{i:04d}.jpg", 10 * i)
    (base / "001.ak47" / "RENAME2").write_text("not an image")  # such stray files exist in the archive
    _img(base / "001.ak47" / "greg" / "001_0099.jpg")  # a nested folder: not counted (as torchvision)
    splits = load_dataset("caltech256", root=tmp_path, val_size=5, test_size=5)
    assert splits.classnames == ["ak47", "american flag", "electric guitar", "face", "clutter"]
    assert splits.display_names == folders
    assert sum(splits.sizes().values()) == 20 and splits.sizes()["test"] == 5
    assert splits.provenance["carved_splits"] == ["train", "val", "test"]
    assert "clutter" in splits.provenance["classnames"]
    img, label = splits.train[0]
    assert img.mode == "RGB" and 0 <= label < 5
    # CoOp-style practice, one call away
    assert "clutter" not in select_classes(splits, splits.classnames[:-1]).classnames


# -- CUB-200-2011 -----------------------------------------------------------------------------
CUB = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]


def _cub(root: Path, with_split: bool = True) -> None:
    base = root / "CUB_200_2011"
    (base / "images").mkdir(parents=True)
    (base / "classes.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(CUB)))
    images, split, k = [], [], 0
    for c in CUB:
        for i in range(5):
            k += 1
            rel = f"{c}/{c.split('.')[1]}_{i:04d}.jpg"
            _img(base / "images" / rel, 20 * i)
            images.append(f"{k} {rel}\n")
            split.append(f"{k} {1 if i < 3 else 0}\n")  # 3 train, 2 test per class
    if with_split:
        (base / "images.txt").write_text("".join(images))
        (base / "train_test_split.txt").write_text("".join(split))


def test_cub_names_from_classes_txt_and_official_split(tmp_path, offline):
    _cub(tmp_path)
    splits = load_dataset("cub", root=tmp_path, val_size=3)
    assert splits.classnames == ["Black footed Albatross", "Laysan Albatross", "Sooty Albatross"]
    assert splits.display_names == CUB
    assert splits.sizes() == {"train": 6, "val": 3, "test": 6}
    assert splits.provenance["carved_splits"] == ["val"]
    for split in ("train", "val", "test"):  # every label is its image's class folder
        ds = splits[split]
        assert [p.parent.name for p in ds.paths] == [CUB[y] for y in ds.labels]
    assert sorted({p.stem[-4:] for p in splits.test.paths}) == ["0003", "0004"]  # the ones marked 0
    assert np.array_equal(splits.test.class_counts(), [2, 2, 2])


def test_cub_without_split_files_is_carved_and_missing_files_are_reported(tmp_path, offline):
    _cub(tmp_path, with_split=False)
    splits = load_dataset("cub", root=tmp_path, val_size=3, test_size=3)
    assert splits.sizes() == {"train": 9, "val": 3, "test": 3}
    assert splits.provenance["carved_splits"] == ["train", "val", "test"]
    other = tmp_path / "other"
    _cub(other)
    next((other / "CUB_200_2011" / "images" / CUB[1]).iterdir()).unlink()
    with pytest.raises(DatasetUnavailable, match=r"1 image file\(s\) .* missing"):
        load_dataset("cub", root=other)


# -- Birdsnap ---------------------------------------------------------------------------------
SPECIES = [("1", "Acadian Flycatcher", "Empidonax virescens", "Acadian_Flycatcher"),
           ("2", "Allen's Hummingbird", "Selasphorus sasin", "Allens_Hummingbird"),
           ("3", "American Avocet", "Recurvirostra americana", "American_Avocet"),
           ("4", "Zone-tailed Hawk", "Buteo albonotatus", "Zone_tailed_Hawk")]


def _birdsnap(root: Path) -> None:
    base = root / "birdsnap"
    base.mkdir(parents=True)
    rows = ["id\tcommon\tscientific\tdir"] + ["\t".join(s) for s in SPECIES]
    (base / "species.txt").write_text("\n".join(rows) + "\n")
    test = ["path"]
    for _, _, _, d in SPECIES[:3]:  # the 4th species' images all failed to download
        for i in range(4):
            _img(base / "download" / "images" / d / f"{i:03d}.jpg", 30 * i)
        test.append(f"{d}/000.jpg")
    test.append("Zone_tailed_Hawk/123.jpg")  # listed, not on disk
    (base / "test_images.txt").write_text("\n".join(test) + "\n")


def test_birdsnap_common_names_official_test_and_dropped_species(tmp_path, offline):
    _birdsnap(tmp_path)
    with pytest.warns(UserWarning, match=r"1 species have no training image .*Zone-tailed Hawk"):
        splits = load_dataset("birdsnap", root=tmp_path, val_size=3)
    assert splits.classnames == ["Acadian Flycatcher", "Allen's Hummingbird", "American Avocet"]
    assert splits.sizes() == {"train": 6, "val": 3, "test": 3}
    assert all(p.name == "000.jpg" for p in splits.test.paths)
    prov = splits.provenance
    assert prov["species_dropped_no_training_image"] == ["Zone-tailed Hawk"]
    assert prov["test_images_listed"] == 4 and prov["test_images_missing"] == 1


# -- ImageNet-Sketch and ImageNet-R -----------------------------------------------------------
def _wnid_folder(base: Path, wnids: list[str], ext: str, n: int = 4) -> None:
    for w in wnids:
        for i in range(n):
            _img(base / w / f"{w}_{i}{ext}", 40 * i)


def test_imagenet_names_are_one_table_for_every_variant():
    wnids = list(cn.imagenet_wnids())
    table = dict(zip(wnids, cn.imagenet_names(wnids)))
    assert len(wnids) == 1000 and len(set(table.values())) == 1000
    assert table["n01440764"] == "tench" and table["n02012849"] == "crane bird"
    r = list(cn.imagenet_r_wnids())
    assert len(r) == 200 and set(r) <= set(wnids)
    assert cn.imagenet_names(r) == [table[w] for w in r]  # a subset keeps the full table's names
    assert online._imagenet_names(["n03126707"]) == ["construction crane"]


def test_imagenet_sketch_from_a_folder(tmp_path, offline):
    wnids = ["n01440764", "n02012849", "n03126707"]
    _wnid_folder(tmp_path / "imagenet-sketch" / "sketch", wnids, ".JPEG")
    with pytest.warns(UserWarning, match=r"3 class folders .* expected the 1000 of ImageNet-1k"):
        splits = load_dataset("imagenet_sketch", root=tmp_path, val_size=3, test_size=3)
    assert splits.classnames == ["tench", "crane bird", "construction crane"]
    assert splits.display_names == wnids
    assert splits.sizes() == {"train": 6, "val": 3, "test": 3}
    assert splits.provenance["carved_splits"] == ["train", "val", "test"]
    assert "test-only" in splits.provenance["official_split"]
    assert len(splits.provenance["missing_classes"]) == 997


def test_imagenet_r_from_a_folder_and_bad_folders(tmp_path, offline):
    all_r = list(cn.imagenet_r_wnids())
    wnids = sorted(all_r[:2] + ["n02012849"] if "n02012849" in all_r else all_r[:3])
    _wnid_folder(tmp_path / "imagenet-r", wnids, ".jpg")
    with pytest.warns(UserWarning, match="expected the 200 of ImageNet-R"):
        splits = load_dataset("imagenet_r", root=tmp_path, val_size=3, test_size=3)
    full = dict(zip(cn.imagenet_wnids(), cn.imagenet_names(list(cn.imagenet_wnids()))))
    assert splits.classnames == [full[w] for w in wnids]
    assert splits.sizes() == {"train": 6, "val": 3, "test": 3}
    _wnid_folder(tmp_path / "bad" / "imagenet-r", ["n99999999"], ".jpg")
    with pytest.raises(ConfigError, match=r"\['n99999999'\] .* not ImageNet-1k wnids"):
        load_dataset("imagenet_r", root=tmp_path / "bad")


def test_full_imagenet_r_folder_warns_about_nothing(tmp_path, offline):
    """All 200 folders (one image each is enough to name them): no partial-copy warning."""
    _wnid_folder(tmp_path / "imagenet-r", list(cn.imagenet_r_wnids()), ".jpg", n=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        splits = load_dataset("imagenet_r", root=tmp_path, val_size=200, test_size=200)
    assert splits.num_classes == 200 and len(set(splits.classnames)) == 200
    assert "(" not in "".join(splits.classnames)


# -- EuroSAT ----------------------------------------------------------------------------------
def test_eurosat_names_are_not_truncated():
    """The official code cut the first letters ("nual crop land"); every name must start with
    the first word of its folder's CamelCase name."""
    import re

    for folder, name in cn.EUROSAT.items():
        assert name.split()[0] == re.findall(r"[A-Z][a-z]+", folder)[0], (folder, name)
    assert not any(n.lower().startswith("nual") for n in cn.EUROSAT.values())
    assert cn.EUROSAT["AnnualCrop"] == "Annual Crop Land"
