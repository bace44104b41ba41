"""Human-readable class names, as data.

Two names per class where they differ: a *prompt* name (lower case, words, usable in
"a photo of a {}") and a *display* name (as the dataset's authors print it). Lists are in label
order. Name cleaning rules for torchvision datasets whose folder names are identifiers live
here too, so every loader uses the same rules.

EuroSAT uses the full CoOp-style names; the paper's official code truncated them
("Annual Crop", "Herbaceous Vegetation", ...), which we deliberately do not repeat.
"""

from __future__ import annotations

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
    "clean_identifier",
    "sun397_name",
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


def clean_identifier(name: str) -> str:
    """``"aquarium_fish"`` -> ``"aquarium fish"``: underscores to spaces, whitespace collapsed."""
    return " ".join(str(name).replace("_", " ").split())


def sun397_name(name: str) -> str:
    """SUN397 ``"apartment_building/outdoor"`` -> ``"outdoor apartment building"`` (CoOp's rule)."""
    parts = [p for p in str(name).strip("/").split("/") if p]
    if len(parts) > 1 and len(parts[0]) == 1:  # a raw "a/abbey" path: drop the letter folder
        parts = parts[1:]
    return clean_identifier(" ".join(reversed(parts)))
