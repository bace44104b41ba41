"""A user's folder as a dataset name, the warning for classes too small for every split, and
``DatasetSplits.map_splits``. Tiny folders are built in each test; no network.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthrec_core.config import ConfigError
from synthrec_core.data import imagefolder_dataset, load_dataset, to_mini_resolution


def _folder(root: Path, counts: dict[str, int], size: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
    return root


BALANCED = {"cat": 20, "dog": 20, "owl": 20}  # enough for 10% val of every class


# -- a folder path in place of a name -----------------------------------------------------------
def test_absolute_relative_home_and_trailing_slash_paths_load_the_folder(tmp_path, monkeypatch):
    root = _folder(tmp_path / "my_pets", BALANCED)
    direct = load_dataset(str(root), seed=1)
    assert direct.name == "my_pets" and direct.classnames == ["cat", "dog", "owl"]
    assert sum(direct.sizes().values()) == 60
    assert direct.provenance["folder"] == str(root) and direct.provenance["profile"] == "any"
    same = imagefolder_dataset(root, split_seed=1)
    assert all(np.array_equal(direct[s].ids, same[s].ids) for s in ("train", "val", "test"))

    monkeypatch.chdir(tmp_path)
    for given in ("my_pets", "./my_pets", "my_pets/", Path("my_pets")):
        assert load_dataset(given, seed=1).name == "my_pets", given
    monkeypatch.chdir(root)
    assert load_dataset(".").name == "my_pets"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_dataset("~/my_pets", seed=1).sizes() == direct.sizes()


def test_missing_folder_is_a_clear_error_not_an_unknown_name(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match=f"^folder not found: {missing}$"):
        load_dataset(str(missing))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"folder not found: \./nowhere \(resolved to .*nowhere\)"):
        load_dataset("./nowhere")
    with pytest.raises(ConfigError, match="folder not found: ~/surely_not_here_42"):
        load_dataset("~/surely_not_here_42")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(ConfigError, match="folder not found: .*file.png.* it is a file"):
        load_dataset(str(tmp_path / "file.png"))


def test_unknown_plain_name_still_suggests_close_matches(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"'cifar_10'.*Did you mean 'cifar10'.*ImageFolder directory"):
        load_dataset("cifar_10")
    with pytest.raises(ConfigError, match="must be a name or a folder path"):
        load_dataset(3)


def test_registered_name_wins_over_a_same_named_folder(tmp_path, monkeypatch):
    _folder(tmp_path / "digits", BALANCED)
    monkeypatch.chdir(tmp_path)
    assert load_dataset("digits").num_classes == 10  # the registered 8x8 digits
    assert load_dataset("./digits").classnames == ["cat", "dog", "owl"]


# -- classes too small for every split ------------------------------------------------------------
def test_one_image_class_warns_naming_class_and_splits(tmp_path):
    root = _folder(tmp_path / "uneven", {"cat": 10, "dog": 10, "lonely": 1, "pair": 2})
    with pytest.warns(UserWarning) as record:
        splits = load_dataset(str(root), val_size=0.2, test_size=0.2)
    ours = [w for w in record if "too few images" in str(w.message)]
    assert len(ours) == 1  # one warning for all such classes
    msg = str(ours[0].message)
    assert "'lonely' (1 image(s)): no val or test" in msg
    assert "'pair' (2 image(s)): no val" in msg and "'cat'" not in msg
    assert ours[0].filename == __file__  # attributed to the caller, not to the package
    assert "holds" not in msg  # val (4) and test (4) are not smaller than the label space
    missing = splits.provenance["classes_missing_from_splits"]
    assert missing == {"lonely": ["val", "test"], "pair": ["val"]}
    lonely = splits.classnames.index("lonely")
    assert splits.train.class_counts()[lonely] == 1  # kept in train, as before


def test_warning_says_when_a_split_is_smaller_than_the_label_space(tmp_path):
    root = _folder(tmp_path / "tiny_val", {"a": 10, "b": 10, "c": 10})
    with pytest.warns(UserWarning, match=r"no val \(val holds 2 image\(s\) for 3 classes: a larger val_size helps\)"):
        load_dataset(str(root))


def test_no_warning_when_every_class_reaches_every_split(tmp_path):
    root = _folder(tmp_path / "even", BALANCED)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        splits = load_dataset(str(root), val_size=0.2, test_size=0.2)
    assert splits.provenance["classes_missing_from_splits"] == {}


def test_official_test_folder_lacking_a_class_warns_too(tmp_path):
    root = tmp_path / "split"
    _folder(root / "train", {"a": 6, "b": 6})
    _folder(root / "test", {"a": 2})
    with pytest.warns(UserWarning, match=r"'b' \(6 image\(s\)\): no test"):
        splits = load_dataset(str(root), val_size=2)
    assert splits.provenance["classes_missing_from_splits"] == {"b": ["test"]}


# -- map_splits ---------------------------------------------------------------------------------
def test_map_splits_applies_to_every_split_and_records_the_note():
    splits = load_dataset("digits")
    half = splits.map_splits(lambda a: np.ascontiguousarray(a[:, ::2, ::2]), "subsampled to 4x4")
    for s in ("train", "val", "test"):
        assert half[s].images.shape[1:] == (4, 4)
        assert np.array_equal(half[s].images, splits[s].images[:, ::2, ::2])
        assert np.array_equal(half[s].ids, splits[s].ids) and np.array_equal(half[s].labels, splits[s].labels)
    assert half.provenance["transforms"] == ["subsampled to 4x4"]
    assert "transforms" not in splits.provenance  # the original is untouched
    twice = half.map_splits(lambda a: a, "identity")
    assert twice.provenance["transforms"] == ["subsampled to 4x4", "identity"]
    mini = splits.to_mini()
    assert mini.train.images.shape[1:] == (32, 32) and "32x32" in mini.provenance["resolution"]
    assert mini.provenance["transforms"] == [mini.provenance["resolution"]]
    assert np.array_equal(mini.val.images, to_mini_resolution(splits.val.images))


def test_map_splits_decodes_file_backed_splits_and_checks_its_input(tmp_path):
    splits = imagefolder_dataset(_folder(tmp_path / "f", BALANCED, size=8))
    assert splits.train.storage == "files"
    gray = splits.map_splits(lambda a: a.mean(axis=3).astype(np.uint8), "to gray")
    assert gray.train.storage == "array" and gray.train.mode == "L" and gray.train.images.shape[1:] == (8, 8)
    rgb = splits.map_splits(lambda a: a, "unchanged")
    assert rgb.test.mode == "RGB" and rgb.test.images.shape[1:] == (8, 8, 3)
    with pytest.raises(ValueError, match="uint8"):
        splits.map_splits(lambda a: a.astype(np.float32), "float")
    with pytest.raises(ValueError, match="N="):
        splits.map_splits(lambda a: a[:1], "drops images")
    with pytest.raises(ValueError, match="note"):
        splits.map_splits(lambda a: a, "")


def test_folder_route_needs_no_registry_name(tmp_path):
    """``datasets: ['/path/to/folder']`` in a notebook is just a string."""
    root = _folder(tmp_path / "notebook_param", BALANCED)
    assert load_dataset(os.fspath(root)).name == "notebook_param"
