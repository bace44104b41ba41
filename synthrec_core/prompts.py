"""Prompt templates and language enhancement (LE), offline (WordNet, timm) or with T5.

This module holds:

- prompt templates, which are data in the profiles (``profiles/<profile>.yaml``): :func:`templates_for`
  reads them and :func:`render_prompts` fills them with the one filler (``{}`` = the class name;
  a template without exactly one ``{}`` is rejected);
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

from dataclasses import dataclass
from typing import Any

from .config import Config, ConfigError, check, check_choice
from .wordnet import WordNetUnavailable, wordnet, wordnet_dir  # noqa: F401  (re-exported)

__all__ = [
    "wordnet",
    "wordnet_dir",
    "WordNetUnavailable",
    "BASIC_TEMPLATE",
    "NAMES",
    "PromptSpec",
    "fill_template",
    "class_names",
    "prompt_spec",
    "templates_for",
    "check_template",
    "render_prompts",
    "class_knowledge",
    "language_enhance",
    "T5LanguageEnhancer",
]

# ============================================================================================
# prompt templates (data: profiles/<profile>.yaml, ``prompts.<dataset>.templates``)

#: which names fill a template's ``{}``: the dataset's class names ("seven") or display names ("7")
NAMES = ("class", "display")


def fill_template(template: str, name: str) -> str:
    """The one way a template is filled: its single ``{}`` replaced by ``name`` (no other braces)."""
    if not isinstance(template, str) or template.count("{}") != 1 or "{" in template.replace("{}", "") \
            or "}" in template.replace("{}", ""):
        raise ConfigError(f"template {template!r} must contain exactly one '{{}}' for the class name and no other braces")
    return template.replace("{}", name)


def class_names(splits: Any, names: str = "class") -> list[str]:
    """The names a template is filled with: class names (underscores as spaces) or display names."""
    check_choice("names", names, NAMES)
    src = splits.classnames if names == "class" else splits.display_names
    return [str(c).replace("_", " ") for c in src]


@dataclass(frozen=True)
class PromptSpec(Config):
    """How a dataset's classes are prompted (profile data, one per dataset)."""

    basic: str = "a photo of a {}."  # B: the generator's prompt per class
    names: str = "class"  # which names fill ``basic``: see NAMES
    le_style: str | None = None  # style word given to the offline enhancer (e.g. "silhouette")
    le_template: str = "a photo of a {}."  # an LE sentence is put in here (the paper: "a photo of a [SENTENCE]")
    templates: tuple = ("a photo of a {}.",)  # zero-shot head candidates: strings, or {"template", "names"} dicts

    def __post_init__(self) -> None:
        object.__setattr__(self, "templates", tuple(self.templates if not isinstance(self.templates, str) else [self.templates]))
        super().__post_init__()

    def validate(self) -> None:
        fill_template(self.basic, "x")
        fill_template(self.le_template, "x")
        check_choice("names", self.names, NAMES)
        check(len(self.templates) > 0, "templates is empty: give at least one zero-shot template")
        for t in self.templates:
            tpl, nm = _template_entry(t)
            fill_template(tpl, "x")
            check_choice("names", nm, NAMES)


def _template_entry(t: Any) -> tuple[str, str]:
    if isinstance(t, str):
        return t, "class"
    if isinstance(t, dict) and set(t) <= {"template", "names"} and "template" in t:
        return t["template"], t.get("names", "class")
    raise ConfigError(f"template entry {t!r} must be a string or {{'template': ..., 'names': 'class'|'display'}}")



BASIC_TEMPLATE = "a photo of a {}."


def templates_for(dataset: str, profile: str = "paper") -> list[str]:
    """The zero-shot templates of ``dataset`` in ``profile`` (``paper`` or ``mini``), as the
    profile's data lists them (the paper's CoOp-style prompts and ensembles; the mini world's
    style-naming prompts). A dataset the profile does not list gets its ``default_prompts``."""
    from .config import check_choice
    from .profiles import load_profile

    check_choice("profile", profile, ("paper", "mini"))
    data = load_profile(profile)
    if profile == "mini":
        check_choice("mini dataset", dataset, sorted(data.get("prompts", {})))
    spec = prompt_spec(data, dataset)
    return [t if isinstance(t, str) else t["template"] for t in spec.templates]


def check_template(template: str) -> str:
    """Return ``template`` if it has exactly one ``{}`` slot, else raise :class:`ConfigError`."""
    fill_template(template, "x")
    return template


def render_prompts(template: str | Sequence[str], classnames: Sequence[str]) -> list[list[str]]:
    """``prompts[c][t]``: each template with class ``c``'s name filled in (the one filler,
    :func:`synthrec_core.zero_shot.fill_template`). Raises :class:`ConfigError` for a template
    without (or with several) ``{}`` slots and for an empty class list."""
    from .config import check

    templates = [template] if isinstance(template, str) else list(template)
    check(len(templates) > 0, "no templates given")
    check(len(classnames) > 0, "no class names given")
    for t in templates:
        check_template(t)
    return [[fill_template(t, name) for t in templates] for name in classnames]


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
    out["hypernyms"] = [h.lemma_names()[0].replace("_", " ") for h in sorted(syn.hypernyms())[:2]]
    hypos = []
    for h in syn.closure(lambda s: sorted(s.hyponyms()), depth=3):
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


def prompt_spec(data: dict[str, Any], dataset: str) -> Any:
    """A profile's prompt spec for ``dataset``; datasets it does not list (a user's folder) get
    its ``default_prompts`` entry, or the paper's basic prompt."""
    table = data.get("prompts", {})
    key = dataset if dataset in table else Path(str(dataset)).name
    entry = table.get(key) or data.get("default_prompts") or {}
    return PromptSpec.from_dict({k: v for k, v in entry.items()})
