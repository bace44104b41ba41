"""Where each paper-profile dataset comes from, as data: how to get it and where it must sit.

``HOW_TO_GET[name]`` is shown in every "not available" error (``{root}`` is filled in);
``EXPECTED_DIR[name]`` is the folder under ``root`` (default ``cache_dir()/datasets``) that
must exist. It is checked before anything heavy is imported, so an offline miss fails in
milliseconds. Datasets torchvision cannot download (ImageNet and its variants, Birdsnap, CUB,
Stanford Cars) use a documented folder layout instead; their loaders never try the network.

No loader lives here: see :mod:`.online` (torchvision) and :mod:`.folders` (folder routes).
"""

from __future__ import annotations

from pathlib import Path

from .base import DatasetUnavailable

__all__ = ["HOW_TO_GET", "EXPECTED_DIR", "unavailable"]

HOW_TO_GET = {
    "cifar10": "torchvision downloads it (~170 MB) when online; or extract cifar-10-python.tar.gz into {root}",
    "cifar100": "torchvision downloads it (~170 MB) when online; or extract cifar-100-python.tar.gz into {root}",
    "eurosat": "torchvision downloads it (~90 MB) when online; or unzip EuroSAT.zip to {root}/eurosat/2750/<class>/",
    "dtd": "torchvision downloads it (~600 MB) when online; or extract dtd-r1.0.1.tar.gz into {root}/dtd/",
    "flowers102": "torchvision downloads it (~330 MB) when online; or put 102flowers.tgz contents, imagelabels.mat "
                  "and setid.mat in {root}/flowers-102/",
    "food101": "torchvision downloads it (~5 GB) when online; or extract food-101.tar.gz into {root}/food-101/",
    "oxford_pets": "torchvision downloads it (~800 MB) when online; or extract images.tar.gz and annotations.tar.gz "
                   "into {root}/oxford-iiit-pet/",
    "stanford_cars": "its original URL is gone, so torchvision cannot download it: get the Stanford Cars images and "
                     "devkit (e.g. from Kaggle) and arrange them as {root}/stanford_cars/{{cars_train,cars_test,devkit,"
                     "cars_test_annos_withlabels.mat}}",
    "fgvc_aircraft": "torchvision downloads it (~2.6 GB) when online; or extract fgvc-aircraft-2013b.tar.gz into "
                     "{root}/fgvc-aircraft-2013b/",
    "caltech101": "torchvision downloads it (~130 MB, needs the gdown package) when online; or extract "
                  "101_ObjectCategories into {root}/caltech101/",
    "caltech256": "torchvision downloads it (~1.2 GB) when online; or extract 256_ObjectCategories.tar into "
                  "{root}/caltech256/, giving {root}/caltech256/256_ObjectCategories/<NNN.name>/*.jpg",
    "sun397": "torchvision downloads it (~37 GB) when online; or extract SUN397.tar.gz into {root}/SUN397/",
    "imagenet": "ImageNet cannot be downloaded automatically: place ILSVRC-2012 as {root}/imagenet/train/<wnid>/*.JPEG "
                "and {root}/imagenet/val/<wnid>/*.JPEG (val sorted into wnid folders)",
    "imagenet_sketch": "no automatic download: get ImageNet-Sketch from its authors (github.com/HaohanWang/"
                       "ImageNet-Sketch; also on the Hugging Face hub as songweig/imagenet_sketch) and unzip it so "
                       "that {root}/imagenet-sketch/sketch/<wnid>/*.JPEG exists (1000 wnid folders)",
    "imagenet_r": "no automatic download: fetch imagenet-r.tar (~2 GB, people.eecs.berkeley.edu/~hendrycks/"
                  "imagenet-r.tar, see github.com/hendrycks/imagenet-r) and extract it into {root}/, giving "
                  "{root}/imagenet-r/<wnid>/*.jpg (200 wnid folders)",
    "cub": "no automatic download: get CUB_200_2011.tgz (www.vision.caltech.edu/datasets/cub_200_2011/) and "
              "extract it into {root}/, giving {root}/CUB_200_2011/{{classes.txt,images.txt,train_test_split.txt,"
              "images/<NNN.Class_Name>/*.jpg}}",
    "birdsnap": "no automatic download: Birdsnap ships URLs, not images. Unpack birdsnap.tgz (Birdsnap 1.1, "
                "thomasberg.org) into {root}/birdsnap/ and run its get_birdsnap.py there, giving "
                "{root}/birdsnap/{{species.txt,test_images.txt,download/images/<species dir>/*.jpg}}",
}

EXPECTED_DIR = {
    "cifar10": "cifar-10-batches-py",
    "cifar100": "cifar-100-python",
    "eurosat": "eurosat/2750",
    "dtd": "dtd/dtd",
    "flowers102": "flowers-102",
    "food101": "food-101",
    "oxford_pets": "oxford-iiit-pet",
    "stanford_cars": "stanford_cars",
    "fgvc_aircraft": "fgvc-aircraft-2013b",
    "caltech101": "caltech101/101_ObjectCategories",
    "caltech256": "caltech256/256_ObjectCategories",
    "sun397": "SUN397",
    "imagenet": "imagenet",
    "imagenet_sketch": "imagenet-sketch/sketch",
    "imagenet_r": "imagenet-r",
    "cub": "CUB_200_2011",
    "birdsnap": "birdsnap",
}


def unavailable(name: str, root: Path, reason: str) -> DatasetUnavailable:
    """The error for an absent dataset: names it, says why and how to get it."""
    how = HOW_TO_GET[name].format(root=root)
    return DatasetUnavailable(f"dataset {name!r} is not available under {root} ({reason}). To get it: {how}")
