"""Prompt templates and language enhancement (LE), offline (WordNet, timm) or with T5.

This module holds:

- the offline WordNet setup: :func:`wordnet` opens the WordNet database that Debian's
  ``wordnet-base`` package installs (``/usr/share/wordnet``) through nltk, after writing the
  ``lexnames`` file nltk expects beside a copy of the database in ``cache_dir()/wordnet``
  (nothing is written into /usr; nltk refuses symlinks that leave its corpus root);
- prompt templates as data: :data:`PAPER_TEMPLATES` (the official code's CoOp-style prompts
  and ensembles), :data:`MINI_TEMPLATES` (each naming the mini dataset's style), with
  :func:`templates_for` and :func:`render_prompts` (which rejects templates without ``{}``);
- language enhancement: :func:`language_enhance` builds varied sentences per class offline
  from WordNet (synonyms, glosses, hypernyms), timm's ImageNet tables (kinds below the class)
  and style/scene words; :class:`T5LanguageEnhancer` is the paper's T5 CommonGen model for the
  paper profile (it fails fast offline, naming the model).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Sequence

from .paths import cache_dir

__all__ = [
    "wordnet",
    "wordnet_dir",
    "WordNetUnavailable",
    "PAPER_TEMPLATES",
    "MINI_TEMPLATES",
    "MINI_STYLES",
    "BASIC_TEMPLATE",
    "templates_for",
    "check_template",
    "render_prompts",
    "class_knowledge",
    "language_enhance",
    "T5LanguageEnhancer",
]

#: where Debian's wordnet-base puts the WordNet 3.0 database
DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")

#: the 45 lexicographer files of WordNet 3.0 (lexnames(5WN)): number, name, syntactic category
_LEXNAMES = (
    "adj.all 3", "adj.pert 3", "adv.all 4", "noun.Tops 1", "noun.act 1", "noun.animal 1",
    "noun.artifact 1", "noun.attribute 1", "noun.body 1", "noun.cognition 1",
    "noun.communication 1", "noun.event 1", "noun.feeling 1", "noun.food 1", "noun.group 1",
    "noun.location 1", "noun.motive 1", "noun.object 1", "noun.person 1", "noun.phenomenon 1",
    "noun.plant 1", "noun.possession 1", "noun.process 1", "noun.quantity 1", "noun.relation 1",
    "noun.shape 1", "noun.state 1", "noun.substance 1", "noun.time 1", "verb.body 2",
    "verb.change 2", "verb.cognition 2", "verb.communication 2", "verb.competition 2",
    "verb.consumption 2", "verb.contact 2", "verb.creation 2", "verb.emotion 2", "verb.motion 2",
    "verb.perception 2", "verb.possession 2", "verb.social 2", "verb.stative 2", "verb.weather 2",
    "adj.ppl 3",
)
_WORDNET_FILES = (
    "data.adj", "data.adv", "data.noun", "data.verb", "index.adj", "index.adv", "index.noun",
    "index.verb", "adj.exc", "adv.exc", "noun.exc", "verb.exc", "index.sense", "cntlist.rev",
)


class WordNetUnavailable(RuntimeError):
    """The WordNet database is not installed; the message says how to install it."""


def wordnet_dir(source: str | os.PathLike | None = None) -> Path:
    """A folder nltk can read WordNet from: a copy of ``source``'s files plus ``lexnames``.

    ``source`` defaults to ``$SYNTHREC_WORDNET`` or Debian's ``/usr/share/wordnet``. The folder
    is ``cache_dir()/wordnet`` and is (re)made idempotently.
    """
    src = Path(source or os.environ.get("SYNTHREC_WORDNET") or DEBIAN_WORDNET_DIR)
    if not (src / "data.noun").exists():
        raise WordNetUnavailable(
            f"WordNet not found in {src} (no data.noun). Install it with "
            "`apt-get install wordnet-base wordnet-sense-index` (Debian/Ubuntu), or point "
            "SYNTHREC_WORDNET at a WordNet 3.0 dict folder."
        )
    out = cache_dir() / "wordnet"
    out.mkdir(parents=True, exist_ok=True)
    for name in _WORDNET_FILES:
        target, copy = src / name, out / name
        # copied, not linked: nltk refuses files that resolve outside the corpus root
        if target.exists() and (not copy.exists() or copy.stat().st_size != target.stat().st_size):
            from .utils import atomic_write_bytes

            atomic_write_bytes(copy, target.read_bytes())
    lex = out / "lexnames"
    text = "".join(f"{i:02d}\t{name.split()[0]}\t{name.split()[1]}\n" for i, name in enumerate(_LEXNAMES))
    if not lex.exists() or lex.read_text() != text:
        from .utils import atomic_write_text

        atomic_write_text(lex, text)
    return out


@functools.lru_cache(maxsize=2)
def _wordnet(folder: str):
    import warnings

    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class _Reader(WordNetCorpusReader):
        # nltk maps synsets to "its" WordNet 3.0 from nltk_data for multilingual data; this *is*
        # WordNet 3.0 and no multilingual data is used, so there is nothing to map
        def map_wn(self, version="wordnet"):
            return None

    # nltk only reads corpora below a root on its data path
    if folder not in nltk.data.path:
        nltk.data.path.append(folder)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The multilingual functions")
        return _Reader(folder, None)


def wordnet(source: str | os.PathLike | None = None):
    """nltk's ``WordNetCorpusReader`` over the installed WordNet 3.0 (no nltk download needed)."""
    return _wordnet(str(wordnet_dir(source)))


# ============================================================================================
# prompt templates (data, per dataset and profile)

#: CoOp-style single prompts of the paper's official code, and the ensembles it uses for CIFAR
#: (CLIP's 18), ImageNet (CLIP's 7), Stanford Cars (8) and SUN397 (2)
_CIFAR_18 = (
    "a photo of a {}.", "a blurry photo of a {}.", "a black and white photo of a {}.",
    "a low contrast photo of a {}.", "a high contrast photo of a {}.", "a bad photo of a {}.",
    "a good photo of a {}.", "a photo of a small {}.", "a photo of a big {}.", "a photo of the {}.",
    "a blurry photo of the {}.", "a black and white photo of the {}.",
    "a low contrast photo of the {}.", "a high contrast photo of the {}.", "a bad photo of the {}.",
    "a good photo of the {}.", "a photo of the small {}.", "a photo of the big {}.",
)
PAPER_TEMPLATES: dict[str, tuple[str, ...]] = {
    "cifar10": _CIFAR_18,
    "cifar100": _CIFAR_18,
    "imagenet": (
        "itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
        "a {} in a video game.", "art of the {}.", "a photo of the small {}.",
    ),
    "stanford_cars": (
        "a photo of a {}.", "a photo of the {}.", "a photo of my {}.", "i love my {}!",
        "a photo of my dirty {}.", "a photo of my clean {}.", "a photo of my new {}.",
        "a photo of my old {}.",
    ),
    "sun397": ("a photo of a {}.", "a photo of the {}."),
    "eurosat": ("a centered satellite photo of {}.",),
    "dtd": ("{} texture.",),
    "oxford_pets": ("a photo of a {}, a type of pet.",),
    "flowers102": ("a photo of a {}, a type of flower.",),
    "fgvc_aircraft": ("a photo of a {}, a type of aircraft.",),
    "food101": ("a photo of {}, a type of food.",),
    "caltech101": ("a photo of a {}.",),
    "birdsnap": ("a photo of a {}, a type of bird.",),
    "cub": ("a photo of a {}, a type of bird.",),
}

#: the mini world's prompts: each names the downstream domain's style, the way the paper's
#: "a centered satellite photo of {}." does; the first is the default, pick the best on a
#: validation split
MINI_TEMPLATES: dict[str, tuple[str, ...]] = {
    "mnist": (
        "a handwritten digit {}", "a handwritten {}", "the digit {} written by hand",
        "the number {}, handwritten", "a photo of the number {}", "a white digit {} on a black background",
    ),
    "animal_mnist": (
        "a white silhouette of a {}", "a silhouette of a {}", "the silhouette of a {} on a black background",
        "a photo of a {}", "a black and white picture of a {}", "an outline drawing of a {}",
    ),
    "fashion_mnist": (
        "a grayscale picture of a {}", "a black and white picture of a {}", "a small grayscale photo of a {}",
        "a photo of a {}", "a white silhouette of a {}", "a monochrome picture of a {}",
    ),
}
MINI_TEMPLATES["mnist5k"] = MINI_TEMPLATES["mnist"]
MINI_TEMPLATES["digits"] = MINI_TEMPLATES["mnist"]

#: the style word of each mini dataset, used by language enhancement
MINI_STYLES: dict[str, str] = {
    "mnist": "handwritten", "mnist5k": "handwritten", "digits": "handwritten",
    "animal_mnist": "silhouette", "fashion_mnist": "grayscale",
}
BASIC_TEMPLATE = "a photo of a {}."


def templates_for(dataset: str, profile: str = "paper") -> list[str]:
    """The prompt templates of ``dataset`` in ``profile`` (``paper`` or ``mini``).

    Paper datasets without a listed prompt get CLIP's basic "a photo of a {}.".
    """
    from .config import check_choice

    check_choice("profile", profile, ("paper", "mini"))
    table = PAPER_TEMPLATES if profile == "paper" else MINI_TEMPLATES
    if profile == "mini":
        check_choice("mini dataset", dataset, sorted(MINI_TEMPLATES))
    return list(table.get(dataset, (BASIC_TEMPLATE,)))


def check_template(template: str) -> str:
    """Return ``template`` if it has exactly one ``{}`` slot, else raise :class:`ConfigError`."""
    from .config import ConfigError

    if not isinstance(template, str) or template.count("{}") != 1:
        raise ConfigError(f"template {template!r} must contain exactly one '{{}}' for the class name")
    try:
        template.format("x")
    except (IndexError, KeyError, ValueError) as err:
        raise ConfigError(f"template {template!r} is not a valid format string: {err}") from None
    return template


def render_prompts(template: str | Sequence[str], classnames: Sequence[str]) -> list[list[str]]:
    """``prompts[c][t]``: each template with class ``c``'s name filled in.

    Raises :class:`ConfigError` for a template without (or with several) ``{}`` slots and for
    an empty class list.
    """
    from .config import check

    templates = [template] if isinstance(template, str) else list(template)
    check(len(templates) > 0, "no templates given")
    check(len(classnames) > 0, "no class names given")
    for t in templates:
        check_template(t)
    return [[t.format(name) for t in templates] for name in classnames]


# ============================================================================================
# language enhancement

#: scene phrases per kind of thing, to turn a class name into a sentence offline
_SCENES = {
    "animal": (
        "standing in a field", "running across the grass", "lying on the ground", "seen from the side",
        "walking in the snow", "in the wild", "at the zoo", "resting in the shade", "near a river",
        "looking at the camera", "on a farm", "in a meadow", "jumping", "sleeping", "eating",
    ),
    "artifact": (
        "on a white background", "on a table", "in a shop window", "seen from the front",
        "lying on the floor", "hanging on a hook", "folded neatly", "for sale", "in a catalogue",
        "next to a wall", "on display", "worn by a person", "in a box", "on a shelf",
    ),
    "number": (
        "written on paper", "written with a pen", "on a form", "on a white sheet", "in a notebook",
        "written in ink", "on an envelope", "on a cheque", "scribbled on a page", "on a blackboard",
    ),
    "other": (
        "in the picture", "seen up close", "in the middle of the frame", "on a plain background",
        "seen from the side", "in a photo", "in a drawing", "in daylight",
    ),
}
_ADJECTIVES = {
    "animal": ("small", "large", "old", "young", "adult", "typical", "single", "wild", "real", "lone"),
    "artifact": ("small", "large", "old", "new", "plain", "simple", "typical", "single", "clean", "worn"),
    "number": ("small", "large", "neat", "messy", "bold", "thin", "simple", "quick", "careful", "single"),
    "other": ("small", "large", "typical", "single", "common", "real", "simple", "plain", "clear", "whole"),
}
#: styles that read as "<prefix> <sentence>" ("a silhouette of a dog running"); other style
#: words are used as adjectives ("a handwritten seven")
STYLE_PREFIXES = {
    "silhouette": "a silhouette of", "outline": "an outline drawing of", "grayscale": "a grayscale picture of",
    "photo": "a photo of", "satellite": "a satellite photo of", "sketch": "a sketch of", "drawing": "a drawing of",
}


DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


@functools.lru_cache(maxsize=1)
def _imagenet_definitions() -> dict[str, tuple[list[str], str]]:
    """timm's ImageNet-21k table: WordNet noun offset ``n01234567`` -> (lemmas, definition)."""
    try:
        import timm.data

        info = Path(timm.data.__file__).parent / "_info"
        with (info / "imagenet_synset_to_lemma.txt").open() as f:
            lemmas = dict(line.rstrip("\n").split("\t", 1) for line in f)
        with (info / "imagenet_synset_to_definition.txt").open() as f:
            defs = dict(line.rstrip("\n").split("\t", 1) for line in f)
    except (ImportError, OSError, ValueError):
        return {}
    return {k: ([w.strip() for w in v.split(",")], defs.get(k, "")) for k, v in lemmas.items()}


def _class_synset(wn, classname: str):
    """The WordNet noun synset a class name most likely means (downstream concepts fixed)."""
    from .data.classnames import DOWNSTREAM_CONCEPTS

    if classname in DOWNSTREAM_CONCEPTS:
        return wn.synset(DOWNSTREAM_CONCEPTS[classname][0])
    key = classname.strip().lower().replace(" ", "_")
    synsets = wn.synsets(key, "n")
    if not synsets:
        return None
    concrete = [s for s in synsets if s.lexname() in ("noun.animal", "noun.artifact", "noun.food", "noun.plant", "noun.object")]
    return (concrete or synsets)[0]


def class_knowledge(classname: str) -> dict[str, list[str]]:
    """What WordNet and timm's ImageNet table know about a class name.

    Returns ``synonyms``, ``definitions``, ``hypernyms``, ``hyponyms`` (ImageNet-1k/21k names
    below the class, most useful first) and ``kind`` (``["animal"]``, ``["artifact"]`` ...).
    Empty lists when the name is unknown.
    """
    out: dict[str, list[str]] = {"synonyms": [], "definitions": [], "hypernyms": [], "hyponyms": [], "kind": ["other"]}
    try:
        wn = wordnet()
    except WordNetUnavailable:
        return out
    syn = _class_synset(wn, classname)
    if syn is None:
        return out
    name = classname.lower()
    out["synonyms"] = [l.replace("_", " ") for l in syn.lemma_names() if l.replace("_", " ").lower() != name]
    out["definitions"] = [syn.definition()]
    offset = f"n{syn.offset():08d}"
    table = _imagenet_definitions()
    if offset in table and table[offset][1] and table[offset][1] != syn.definition():
        out["definitions"].append(table[offset][1])
    out["hypernyms"] = [h.lemma_names()[0].replace("_", " ") for h in syn.hypernyms()[:2]]
    hypos = []
    for h in syn.closure(lambda s: s.hyponyms(), depth=3):
        k = f"n{h.offset():08d}"
        if k in table:  # keep names ImageNet uses: concrete, picturable kinds
            hypos.append(table[k][0][0])
    out["hyponyms"] = sorted(set(hypos), key=hypos.index)[:60]
    lex = syn.lexname()
    if classname.lower() in DIGIT_NAMES:
        out["kind"] = ["number"]
        out["synonyms"] = [str(DIGIT_NAMES.index(classname.lower()))]  # not "septet", "heptad" ...
        out["hyponyms"] = []
    elif lex == "noun.animal":
        out["kind"] = ["animal"]
    elif lex in ("noun.artifact", "noun.food", "noun.plant", "noun.object"):
        out["kind"] = ["artifact"]
    return out


def language_enhance(classname: str, n: int = 200, seed: int = 0, style: str | None = None) -> list[str]:
    """Up to ``n`` distinct sentences about ``classname``, built offline (the paper's LE step).

    Sentences combine the class name or a WordNet synonym with its gloss ("a dog, a member of
    the genus Canis ..."), hypernyms ("a dog, a kind of canine"), ImageNet kinds below it
    ("a beagle, a type of dog"), scene phrases fitting its kind ("a dog running across the
    grass") and the ``style`` word ("a handwritten seven written on paper"). Every sentence
    names the class or a synonym. They are de-duplicated and shuffled by ``seed``; if fewer than
    ``n`` distinct sentences exist, all are returned with a warning (never an error).
    """
    import random
    import warnings

    from .config import check

    check(isinstance(classname, str) and classname.strip() != "", f"classname={classname!r} must be a non-empty string")
    check(n >= 1, f"n={n} must be >= 1")
    name = classname.strip()
    k = class_knowledge(name)
    kind = k["kind"][0]
    names = [name] + k["synonyms"][:3]
    prefix = STYLE_PREFIXES.get(style or "")
    st = f"{style} " if style and not prefix else ""
    scenes = _SCENES[kind]
    adjectives = _ADJECTIVES[kind]
    sentences: list[str] = []
    for nm in names:
        a = _article(st + nm)
        sentences.append(f"{a} {st}{nm}")
        for scene in scenes:
            sentences.append(f"{a} {st}{nm} {scene}")
        for d in k["definitions"]:
            sentences.append(f"{a} {st}{nm}, {d}")
        for h in k["hypernyms"]:
            sentences.append(f"{a} {st}{nm}, a kind of {h}")
            sentences.append(f"{a} {st}{nm}, which is a {h}" if kind != "number" else f"the {st}{nm}, a {h}")
        for adj in adjectives:
            sentences.append(f"{_article(adj)} {adj} {st}{nm}")
            for scene in scenes:
                sentences.append(f"{_article(adj)} {adj} {st}{nm} {scene}")
    for hypo in k["hyponyms"]:
        sentences.append(f"{_article(st + hypo)} {st}{hypo}, a type of {name}")
    if kind == "number":
        digit = str(DIGIT_NAMES.index(name.lower()))
        for scene in scenes:
            sentences.append(f"the {st}digit {digit} ({name}) {scene}")
            sentences.append(f"the {st}number {name} {scene}")
    if prefix:
        sentences = [f"{prefix} {s}" for s in sentences]
    seen: set[str] = set()
    distinct = []
    for s in sentences:
        s = " ".join(s.split())
        if s.lower() not in seen:
            seen.add(s.lower())
            distinct.append(s)
    random.Random(f"{seed}:{name}:{style}").shuffle(distinct)
    if len(distinct) < n:
        warnings.warn(f"language_enhance({name!r}): only {len(distinct)} distinct sentences exist; "
                      f"returning them all instead of {n}", stacklevel=2)
    return distinct[:n]


class T5LanguageEnhancer:
    """The paper's LE: T5 fine-tuned on CommonGen turns a class name into sentences.

    Samples ``num_samples`` sentences per class, de-duplicates them and keeps ``keep`` (the
    official code keeps 200 of 250 and crashes when fewer remain; here fewer are returned with a
    warning). Loads ``model_id`` with transformers' ``from_pretrained``; when the model is not
    in the local Hugging Face cache and the hub is offline, construction fails at once with a
    message naming the model and how to get it.
    """

    MODEL_ID = "mrm8488/t5-base-finetuned-common_gen"

    def __init__(self, model_id: str = MODEL_ID, num_samples: int = 250, keep: int = 200,
                 device: str = "cpu", batch_size: int = 50, max_length: int = 32, revision: str | None = None) -> None:
        from .config import check

        check(num_samples >= keep >= 1, f"need num_samples >= keep >= 1, got {num_samples}, {keep}")
        self.model_id, self.num_samples, self.keep = model_id, num_samples, keep
        self.device, self.batch_size, self.max_length = device, batch_size, max_length
        offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
        try:
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

            self.revision = revision
            self.tokenizer = AutoTokenizer.from_pretrained(model_id, revision=revision, local_files_only=offline)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(model_id, revision=revision, local_files_only=offline).to(device).eval()
        except Exception as err:  # noqa: BLE001 - any failure to load means: say how to get it
            raise RuntimeError(
                f"cannot load the language-enhancement model {model_id!r} "
                f"({'offline: HF_HUB_OFFLINE=1 and it is not in the local Hugging Face cache' if offline else type(err).__name__}). "
                f"Get it with `hf download {model_id}{' --revision ' + revision if revision else ''}` on a machine with internet "
                f"(or unset HF_HUB_OFFLINE), or use the offline `language_enhance` instead."
            ) from err

    def __call__(self, classname: str, seed: int = 0) -> list[str]:
        """Up to ``keep`` distinct sentences for ``classname`` (sampled with ``seed``)."""
        import warnings

        import torch

        torch.manual_seed(seed)
        enc = self.tokenizer([classname], return_tensors="pt").to(self.device)
        out: list[str] = []
        left = self.num_samples
        with torch.no_grad():
            while left > 0:
                k = min(self.batch_size, left)
                ids = self.model.generate(**enc, do_sample=True, num_return_sequences=k, max_length=self.max_length)
                out += self.tokenizer.batch_decode(ids, skip_special_tokens=True)
                left -= k
        distinct = list(dict.fromkeys(" ".join(s.split()) for s in out if s.strip()))
        if len(distinct) < self.keep:
            warnings.warn(f"T5 LE for {classname!r}: only {len(distinct)} distinct sentences of "
                          f"{self.num_samples}; keeping them all instead of {self.keep}", stacklevel=2)
        return distinct[: self.keep]
