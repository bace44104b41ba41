"""Human-readable class names, as data.

Two names per class where they differ: a *prompt* name (lower case, words, usable in
"a photo of a {}") and a *display* name (as the dataset's authors print it). Lists are in label
order. Name cleaning rules for torchvision datasets whose folder names are identifiers live
here too, so every loader uses the same rules.

EuroSAT uses the full CoOp-style names; the paper's official code truncated them
("nual crop land" for "Annual Crop Land"), which we deliberately do not repeat.

ImageNet and its variants (ImageNet-Sketch, ImageNet-R) share one name table:
:func:`imagenet_names` (first WordNet lemma from timm's bundled tables, a few collisions
overridden), looked up over all 1000 classes so a wnid has the same name in every variant.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = [
    "FASHION_MNIST",
    "FASHION_MNIST_DISPLAY",
    "ANIMAL_MNIST",
    "DIGITS",
    "DIGITS_DISPLAY",
    "EUROSAT",
    "FLOWERS102",
    "CALTECH101_RENAME",
    "CALTECH101_IGNORED",
    "IMAGENET_OVERRIDES",
    "CALTECH256_RENAME",
    "CALTECH256_CLUTTER",
    "clean_identifier",
    "sun397_name",
    "caltech256_name",
    "cub_name",
    "imagenet_wnids",
    "imagenet_r_wnids",
    "imagenet_names",
]


FASHION_MNIST = ["t-shirt", "trouser", "pullover", "dress", "coat",
                 "sandal", "shirt", "sneaker", "bag", "ankle boot"]
FASHION_MNIST_DISPLAY = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# Animal-MNIST labels 0-9, as documented by the animal-mnist package
ANIMAL_MNIST = ["bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra"]

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
DIGITS_DISPLAY = [str(i) for i in range(10)]

# EuroSAT folder name (torchvision / ImageFolder order) -> full CoOp-style name
EUROSAT = {
    "AnnualCrop": "Annual Crop Land",
    "Forest": "Forest",
    "HerbaceousVegetation": "Herbaceous Vegetation Land",
    "Highway": "Highway or Road",
    "Industrial": "Industrial Buildings",
    "Pasture": "Pasture Land",
    "PermanentCrop": "Permanent Crop Land",
    "Residential": "Residential Buildings",
    "River": "River",
    "SeaLake": "Sea or Lake",
}

# Oxford Flowers-102, labels 1..102 in ``imagelabels.mat`` order (torchvision label = index)
FLOWERS102 = [
    "pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea",
    "english marigold", "tiger lily", "moon orchid", "bird of paradise", "monkshood",
    "globe thistle", "snapdragon", "colt's foot", "king protea", "spear thistle", "yellow iris",
    "globe-flower", "purple coneflower", "peruvian lily", "balloon flower",
    "giant white arum lily", "fire lily", "pincushion flower", "fritillary", "red ginger",
    "grape hyacinth", "corn poppy", "prince of wales feathers", "stemless gentian", "artichoke",
    "sweet william", "carnation", "garden phlox", "love in the mist", "mexican aster",
    "alpine sea holly", "ruby-lipped cattleya", "cape flower", "great masterwort", "siam tulip",
    "lenten rose", "barberton daisy", "daffodil", "sword lily", "poinsettia", "bolero deep blue",
    "wallflower", "marigold", "buttercup", "oxeye daisy", "common dandelion", "petunia",
    "wild pansy", "primula", "sunflower", "pelargonium", "bishop of llandaff", "gaura",
    "geranium", "orange dahlia", "pink-yellow dahlia", "cautleya spicata", "japanese anemone",
    "black-eyed susan", "silverbush", "californian poppy", "osteospermum", "spring crocus",
    "bearded iris", "windflower", "tree poppy", "gazania", "azalea", "water lily", "rose",
    "thorn apple", "morning glory", "passion flower", "lotus", "toad lily", "anthurium",
    "frangipani", "clematis", "hibiscus", "columbine", "desert-rose", "tree mallow", "magnolia",
    "cyclamen", "watercress", "canna lily", "hippeastrum", "bee balm", "ball moss", "foxglove",
    "bougainvillea", "camellia", "mallow", "mexican petunia", "bromelia", "blanket flower",
    "trumpet creeper", "blackberry lily",
]

# Caltech-101 as in CoOp: the background class and the duplicate "Faces_easy" are dropped
CALTECH101_IGNORED = ("BACKGROUND_Google", "Faces_easy")
CALTECH101_RENAME = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}

# ImageNet synsets whose first WordNet lemma collides with another class
IMAGENET_OVERRIDES = {
    "n02012849": "crane bird",
    "n03126707": "construction crane",
    "n03710637": "maillot",
    "n03710721": "tank suit",
}


# Caltech-256 folder stems (after "NNN." and a "-101" suffix are removed) whose plain
# hyphen-to-space rule gives a poor prompt; every other folder follows the rule.
CALTECH256_RENAME = {
    "faces-easy": "face",
    "airplanes": "airplane",
    "leopards": "leopard",
    "motorbikes": "motorbike",
    "t-shirt": "t-shirt",
    "yo-yo": "yo-yo",
    "tower-pisa": "leaning tower of pisa",
}
# Caltech-256's 257th folder: images of no object class. Kept as class "clutter", as the
# paper's official code does (it evaluates on all 257 folders); CoOp-style practice would drop
# it, which is one call: ``select_classes(splits, [c for c in splits.classnames if c != "clutter"])``.
CALTECH256_CLUTTER = "257.clutter"

_NUMBER_PREFIX = re.compile(r"^\d+\.")


def clean_identifier(name: str) -> str:
    """``"aquarium_fish"`` -> ``"aquarium fish"``: underscores to spaces, whitespace collapsed."""
    return " ".join(str(name).replace("_", " ").split())


def sun397_name(name: str) -> str:
    """SUN397 ``"apartment_building/outdoor"`` -> ``"outdoor apartment building"`` (CoOp's rule)."""
    parts = [p for p in str(name).strip("/").split("/") if p]
    if len(parts) > 1 and len(parts[0]) == 1:  # a raw "a/abbey" path: drop the letter folder
        parts = parts[1:]
    return clean_identifier(" ".join(reversed(parts)))


def caltech256_name(folder: str) -> str:
    """Caltech-256 ``"001.ak47"`` -> ``"ak47"``, ``"063.electric-guitar-101"`` -> ``"electric guitar"``.

    The number prefix and a ``-101`` suffix (classes shared with Caltech-101) are dropped,
    hyphens become spaces, and :data:`CALTECH256_RENAME` fixes the few awkward ones.
    """
    stem = _NUMBER_PREFIX.sub("", str(folder).strip())
    stem = stem[: -len("-101")] if stem.endswith("-101") else stem
    return CALTECH256_RENAME.get(stem, clean_identifier(stem.replace("-", " ")))


def cub_name(folder: str) -> str:
    """CUB-200-2011 ``"001.Black_footed_Albatross"`` -> ``"Black footed Albatross"`` (case kept)."""
    return clean_identifier(_NUMBER_PREFIX.sub("", str(folder).strip()))


def _timm_table(filename: str) -> str | None:
    """A table shipped in timm's ``data/_info``, read without importing timm (which imports torch)."""
    import importlib.util
    from pathlib import Path

    try:
        spec = importlib.util.find_spec("timm")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "_info" / filename
    return path.read_text(encoding="utf-8") if path.is_file() else None


@lru_cache(maxsize=1)
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ImageNet-1k wnids in label order (timm's table), or ``()`` without timm."""
    text = _timm_table("imagenet_synsets.txt")
    return tuple(text.split()) if text else ()


@lru_cache(maxsize=1)
def imagenet_r_wnids() -> tuple[str, ...]:
    """The 200 wnids of ImageNet-R (timm's table), or ``()`` without timm."""
    text = _timm_table("imagenet_r_synsets.txt")
    return tuple(text.split()) if text else ()


@lru_cache(maxsize=1)
def _lemmas() -> dict[str, str]:
    text = _timm_table("imagenet_synset_to_lemma.txt") or ""
    out = {}
    for line in text.splitlines():
        wnid, _, lemmas = line.partition("\t")
        out[wnid] = lemmas.split(",")[0].strip()
    return out


def _unique_names(wnids: list[str]) -> list[str]:
    """First lemma of each synset (overrides first); remaining collisions get the wnid appended."""
    lemma = _lemmas()
    names = [IMAGENET_OVERRIDES.get(w, lemma.get(w, w)) for w in wnids]
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    return [f"{n} ({w})" if seen[n] > 1 else n for n, w in zip(names, wnids)]


@lru_cache(maxsize=1)
def _imagenet_table() -> dict[str, str]:
    wnids = list(imagenet_wnids())
    return dict(zip(wnids, _unique_names(wnids)))


def imagenet_names(wnids: list[str]) -> list[str]:
    """Prompt names of ImageNet wnids: the names the 1000-class table gives them.

    A wnid outside ImageNet-1k (or every wnid, without timm) falls back to its first lemma,
    made unique among ``wnids``.
    """
    table = _imagenet_table()
    wnids = list(wnids)
    if all(w in table for w in wnids):
        return [table[w] for w in wnids]
    return _unique_names(wnids)


#: WordNet noun synsets of the mini downstream datasets' class names (Animal-MNIST, Fashion-MNIST):
#: which sense of "bag" or "coat" a class means (language enhancement and the mini world's clip-art
#: mapping both use it)
ANIMAL_CONCEPTS: dict[str, tuple[str, ...]] = {
    "bear": ("bear.n.01",),
    "bird": ("bird.n.01",),
    "cat": ("cat.n.01",),
    "cow": ("cattle.n.01",),
    "dog": ("dog.n.01",),
    "elephant": ("elephant.n.01", "mammoth.n.01"),
    "giraffe": ("giraffe.n.01",),
    "horse": ("horse.n.01",),
    "sheep": ("sheep.n.01",),
    "zebra": ("zebra.n.01",),
}
CLOTHING_CONCEPTS: dict[str, tuple[str, ...]] = {
    "t-shirt": ("jersey.n.03",),
    "trouser": ("trouser.n.01",),
    "pullover": ("sweater.n.01",),
    "dress": ("dress.n.01",),
    "coat": ("coat.n.01",),
    "sandal": ("sandal.n.01",),
    "shirt": ("shirt.n.01",),
    "sneaker": ("gym_shoe.n.01",),
    "bag": ("bag.n.04", "bag.n.01"),
    "ankle boot": ("boot.n.01",),
}
DOWNSTREAM_CONCEPTS: dict[str, tuple[str, ...]] = {**ANIMAL_CONCEPTS, **CLOTHING_CONCEPTS}
