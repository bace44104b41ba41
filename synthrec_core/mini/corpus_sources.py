"""Clip-art sources of the corpus's object part, mapped to concrete nouns with WordNet.

Sources: Debian ``openclipart-svg`` (public-domain SVGs in category folders, each with a title,
keywords and author names in its RDF metadata) and ``libjs-emojify`` (emoji PNGs named by
keyword). Each source's words (title and file name first, then folder names, then keywords --
keywords only inside the ``animals`` folders, elsewhere they are too noisy)
are tokenised; author names (from the metadata's creator/rights fields, also as truncated
prefixes in file names), numbers and junk are dropped; a few Italian and French animal and
clothing words common in the file names are translated. Then each word is looked up in WordNet:

- a source belongs to a **downstream concept** (the 10 Animal-MNIST animals, the 10
  Fashion-MNIST garments) when a word's synset has one of the concept's synsets in its
  hypernym closure ("puppy" -> dog, "stallion" -> horse, "ram" -> sheep, "parrot" -> bird);
  in animal contexts (the ``animals`` folders) any noun.animal sense counts, elsewhere only
  the word's most frequent sense and only if it is concrete, so a construction "crane" and
  Martin Luther King are not birds; a source matching two
  downstream concepts (a "cat and dog" scene) is skipped;
- otherwise a source gets the **other concrete noun** of its first word whose first concrete
  sense is an animal, artifact, food, plant or natural object ("car", "apple", "guitar").

The specific word (e.g. "parrot" for bird) is kept for captions; author names never are.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from pathlib import Path

__all__ = [
    "Source",
    "OPENCLIPART_DIR",
    "EMOJI_DIR",
    "DOWNSTREAM_CONCEPTS",
    "ANIMAL_CONCEPTS",
    "CLOTHING_CONCEPTS",
    "list_sources",
    "map_sources",
    "cached_map_sources",
    "tokens",
]

OPENCLIPART_DIR = Path("/usr/share/openclipart/svg")
EMOJI_DIR = Path("/usr/share/javascript/emojify.js/images/emoji")

#: downstream concept -> WordNet synsets whose hyponyms count as the concept
from ..data.classnames import ANIMAL_CONCEPTS, CLOTHING_CONCEPTS, DOWNSTREAM_CONCEPTS  # noqa: E402  (downstream class -> WordNet synsets)

#: words WordNet files elsewhere (young animals, plurals it lacks, emoji names): word -> concept
_ALIASES = {
    "kitten": "cat", "kitty": "cat", "kittens": "cat", "puppy": "dog", "puppies": "dog",
    "doggy": "dog", "lamb": "sheep", "lambs": "sheep", "calf": "cow", "calves": "cow",
    "foal": "horse", "colt": "horse", "filly": "horse", "pony": "horse", "racehorse": "horse",
    "tshirt": "t-shirt", "tee": "t-shirt", "teeshirt": "t-shirt", "hoodie": "pullover",
    "jumper": "pullover", "jeans": "trouser", "pants": "trouser", "trainers": "sneaker",
    "sneakers": "sneaker", "handbag": "bag", "purse": "bag", "boots": "ankle boot",
    "sandals": "sandal",
}
#: two-word names, tried before single words (so "teddy bear" is not a bear, "t shirt" no shirt)
_PHRASES = {
    "t shirt": "t-shirt", "tee shirt": "t-shirt", "ankle boot": "ankle boot",
    "athletic shoe": "sneaker", "running shoe": "sneaker", "tennis shoe": "sneaker",
    "gym shoe": "sneaker", "polar bear": "bear", "teddy bear": None, "carousel horse": None,
    "horse racing": "horse", "sea horse": None, "seahorse": None, "horse shoe": None,
    "cat face": None, "dog face": None, "mans shoe": None, "high heel": None,
    "coat arms": None, "coat check": None, "shoe print": None, "big cats": None,
    "giraffe cichlid": None, "jacket template": None, "cd jacket": None, "poultry leg": None,
    "turkey platter": None, "hot dog": None, "chat icon": None,
}
#: words whose WordNet senses mislead here (a "mount" icon is not a horse, a "pocket" no bag)
_NOT_DOWNSTREAM = {"mount", "pocket", "mac", "holstein", "guernsey", "blazer", "jersey", "tote",
                   "snowflake", "chestnut", "plug", "poster"}
_NO_DOWNSTREAM_CATEGORIES = {"signs_and_symbols", "logos", "buttons", "shapes"}
#: path parts whose files are signs, icons or patterns, not pictures of the object
_SKIP_PARTS = {"icons", "flags", "roadsigns", "aiga", "gradients", "aiga-symbols", "map_symbols"}
#: Italian and French words frequent in openclipart file names
_TRANSLATE = {
    "cavallo": "horse", "cavalli": "horse", "gatto": "cat", "gatti": "cat", "gattino": "kitten",
    "cane": "dog", "cani": "dog", "cagnolino": "puppy", "mucca": "cow", "vacca": "cow",
    "toro": "bull", "bue": "ox", "pecora": "sheep", "pecore": "sheep", "agnello": "lamb",
    "montone": "ram", "orso": "bear", "orsetto": "bear", "uccello": "bird", "uccellino": "bird",
    "elefante": "elephant", "giraffa": "giraffe", "zebra": "zebra", "maiale": "pig",
    "pesce": "fish", "farfalla": "butterfly", "coniglio": "rabbit", "gallina": "hen",
    "gallo": "rooster", "anatra": "duck", "topo": "mouse", "leone": "lion", "tigre": "tiger",
    "scimmia": "monkey", "ragno": "spider", "ragnetto": "spider", "formica": "ant",
    "formicona": "ant", "zanzara": "mosquito", "libellula": "dragonfly", "coccinella": "ladybug",
    "cavalletta": "grasshopper", "lumaca": "snail", "tartaruga": "turtle", "rana": "frog",
    "serpente": "snake", "gufo": "owl", "civetta": "owl", "aquila": "eagle",
    "pinguino": "penguin", "pappagallo": "parrot", "cigno": "swan", "oca": "goose",
    "asino": "donkey", "capra": "goat", "lucertola": "lizard", "lucertolona": "lizard",
    "lucertolone": "lizard", "camicia": "shirt", "maglietta": "t-shirt", "scarpa": "shoe",
    "scarpe": "shoe", "stivale": "boot", "stivali": "boot", "borsa": "bag", "borsetta": "bag",
    "vestito": "dress", "gonna": "skirt", "pantaloni": "trousers", "cappello": "hat",
    "giacca": "jacket", "cappotto": "coat", "chien": "dog", "cheval": "horse",
    "vache": "cow", "mouton": "sheep", "ours": "bear", "oiseau": "bird", "abeille": "bee",
    "coccinelle": "ladybug", "papillon": "butterfly", "libellule": "dragonfly", "hibou": "owl",
    "chouette": "owl", "poule": "hen", "canard": "duck", "poisson": "fish", "lapin": "rabbit",
    "souris": "mouse", "cochon": "pig", "ape": "bee", "mela": "apple", "pera": "pear",
    "albero": "tree", "fiore": "flower", "casa": "house", "macchina": "car", "barca": "boat",
    "chitarra": "guitar", "lucchetto": "padlock", "punaise": "bug",
}
#: words that never name the object drawn (style words, file junk, generic categories)
_STOP = {
    "svg", "png", "clip", "clipart", "art", "openclipart", "icon", "icons", "image", "picture",
    "drawing", "draw", "sketch", "cartoon", "comic", "simple", "stylized", "style", "design",
    "version", "black", "white", "red", "blue", "green", "yellow", "orange", "brown", "grey",
    "gray", "pink", "purple", "gold", "silver", "color", "colour", "colored", "coloured", "old",
    "new", "big", "small", "little", "cute", "funny", "happy", "sad", "line", "lines", "outline",
    "silhouette", "shadow", "set", "collection", "pack", "symbol", "sign", "button", "logo",
    "pattern", "frame", "border", "background", "shape", "shapes", "element", "elements",
    "object", "objects", "thing", "item", "unsorted", "special", "misc", "people", "animals",
    "animal", "mammals", "mammal", "recreation", "computer", "office", "tools", "plants",
    "food", "geography", "education", "science", "shapes", "decorations", "buildings",
    "containers", "electronics", "transportation", "signs", "symbols", "and", "the", "with",
    "for", "from", "of", "in", "on", "by", "a", "an", "by", "head", "face", "toon", "glossy",
    "tux", "mascot", "fantasy", "emoji", "flag", "map", "text", "word", "label", "clock",
    "number", "letter", "card", "cards", "chess", "dice", "holiday", "party", "sport", "sports",
    "game", "games", "music", "ornamental", "bordered", "cardbacks", "jigsaw", "flowchart",
    "arrows", "callouts", "stars", "medicine", "astronomy", "bugs", "birds", "fish",
    "dinosaurs", "amphibian", "horses", "dogs", "cats", "christmas", "easter", "valentines",
    "thanksgiving", "religion", "christianity", "toys", "books", "battery", "bulb",
    "part", "left", "right", "back", "two", "one", "three", "creation", "application", "stock",
    "led", "home", "top", "bottom", "front", "side", "view", "end", "type", "model",
    # number words: the digit concepts belong to the typography part (emoji keycaps are not digits)
    "zero", "four", "five", "six", "seven", "eight", "nine", "ten", "hundred",
}
_CONCRETE = {"noun.animal", "noun.artifact", "noun.food", "noun.plant", "noun.object"}
_WEAK = ("face", "nose", "paw", "prints", "head", "eyes")  # emoji / clip-art parts of an animal


@dataclasses.dataclass(frozen=True)
class Source:
    """One clip-art file and the words that describe it."""

    path: str
    kind: str  # "openclipart" or "emoji"
    category: str  # top-level folder ("animals", "people" ...) or "emoji"
    primary: tuple[str, ...]  # title and file-name words
    folder: tuple[str, ...]  # folder words
    keywords: tuple[str, ...]  # metadata keywords
    authors: tuple[str, ...]  # author-name words (never used)


def tokens(text: str) -> list[str]:
    """Lower-case alphabetic words of ``text`` (camelCase split, digits and marks dropped)."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    text = re.sub(r"(?i)\b(t|tee)[-_ ]?shirt", "tshirt", text)  # before "t" is dropped as too short
    return [t for t in re.split(r"[^a-z]+", text.lower()) if t]


_META = re.compile(r"<cc:Work\b.*?</cc:Work>", re.S)
_TITLE = re.compile(r"<dc:title>([^<]*)</dc:title>")
_AGENT = re.compile(r"<dc:(?:creator|rights|publisher)>.*?</dc:(?:creator|rights|publisher)>", re.S)
_SUBJECT = re.compile(r"<dc:subject>(.*?)</dc:subject>", re.S)
_LI = re.compile(r"<rdf:li>([^<]*)</rdf:li>")


def _svg_meta(path: Path) -> tuple[str, list[str], list[str]]:
    """(title, keywords, author words) from an openclipart SVG's RDF metadata."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "", [], []
    m = _META.search(text)
    if not m:
        return "", [], []
    work = m.group(0)
    authors: list[str] = []
    for agent in _AGENT.findall(work):
        for t in _TITLE.findall(agent):
            authors += tokens(t)
    body = _AGENT.sub("", work)
    titles = _TITLE.findall(body)
    subj = _SUBJECT.search(body)
    keywords = [k for k in _LI.findall(subj.group(1))] if subj else []
    return (titles[0] if titles else ""), keywords, authors


def _clean(words: list[str], authors: set[str]) -> tuple[str, ...]:
    out = []
    for w in words:
        w = _TRANSLATE.get(w, w)
        if len(w) < 3 and w not in ("ox",):
            continue
        if w in _STOP:
            continue
        # author names, also truncated in file names ("architetto_franc" -> francesco)
        if w in authors or (len(w) >= 3 and any(a.startswith(w) for a in authors if len(a) > len(w))):
            continue
        out.append(w)
    return tuple(out)


@functools.lru_cache(maxsize=4)
def list_sources(openclipart_dir: str = str(OPENCLIPART_DIR), emoji_dir: str = str(EMOJI_DIR)) -> tuple[Source, ...]:
    """Every openclipart SVG and emoji PNG with its cleaned words (sorted by path)."""
    out: list[Source] = []
    root = Path(openclipart_dir)
    if root.is_dir():
        for p in sorted(root.rglob("*.svg")):
            title, keywords, authors = _svg_meta(p)
            a = set(authors)
            rel = p.relative_to(root)
            folder_words = [t for part in rel.parts[:-1] for t in tokens(part)]
            primary = _clean(tokens(title) + tokens(p.stem), a)
            out.append(Source(str(p), "openclipart", rel.parts[0] if len(rel.parts) > 1 else "",
                              primary, _clean(folder_words, a),
                              _clean([t for k in keywords for t in tokens(k)], a), tuple(sorted(a))))
    eroot = Path(emoji_dir)
    if eroot.is_dir():
        for p in sorted(eroot.glob("*.png")):
            out.append(Source(str(p), "emoji", "emoji", _clean(tokens(p.stem), set()), (), (), ()))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def _targets() -> dict[str, str]:
    from ..wordnet import wordnet

    wn = wordnet()
    return {wn.synset(s).name(): concept for concept, syns in DOWNSTREAM_CONCEPTS.items() for s in syns}


@functools.lru_cache(maxsize=65536)
def _word_concept(word: str, animal_context: bool) -> tuple[str | None, str | None, str | None]:
    """(downstream concept or None, other noun or None, group of the other noun) for a word."""
    from ..wordnet import wordnet

    wn = wordnet()
    if word in _ALIASES:
        return _ALIASES[word], None, None
    if word in _NOT_DOWNSTREAM:
        animal_context = False
    key = word.replace(" ", "_")
    synsets = wn.synsets(key, "n")
    if not synsets:
        base = wn.morphy(key, "n")
        synsets = wn.synsets(base, "n") if base else []
    if not synsets:
        return None, None, None
    targets = _targets()
    concrete = [s for s in synsets if s.lexname() in _CONCRETE]
    # animal contexts: any animal sense; elsewhere only the word's most frequent sense, and only
    # if it is concrete ("martin" is first a person, so Martin Luther King is no bird)
    candidates = [s for s in synsets if s.lexname() == "noun.animal"] if animal_context else []
    candidates += synsets[:1] if synsets[0].lexname() in _CONCRETE else []
    if word in _NOT_DOWNSTREAM:
        candidates = []
    for s in candidates:
        chain = {s.name()} | {h.name() for h in s.closure(lambda x: x.hypernyms() + x.instance_hypernyms())}
        hits = {targets[c] for c in chain if c in targets}
        if len(hits) == 1:
            return hits.pop(), None, None
    if not concrete:
        return None, None, None
    first = concrete[0]
    chain = {h.name() for h in first.closure(lambda x: x.hypernyms())}
    group = "animal" if first.lexname() == "noun.animal" else (
        "clothing" if "clothing.n.01" in chain or "footwear.n.01" in chain else "object")
    noun = (wn.morphy(key, "n") or key).replace("_", " ")
    return None, noun, group


def _concepts_in(words: tuple[str, ...], animal_context: bool) -> tuple[set[str], list[tuple[str, str, str]], dict[str, str], bool]:
    """Downstream concepts, other nouns (noun, group, word), concept -> specific word, and
    whether a phrase said "not a downstream concept" ("teddy bear")."""
    blocked = False
    found: set[str] = set()
    others: list[tuple[str, str, str]] = []
    specific: dict[str, str] = {}
    i = 0
    while i < len(words):
        if i + 1 < len(words):
            pair = f"{words[i]} {words[i + 1]}"
            if pair in _PHRASES:
                c = _PHRASES[pair]
                if c:
                    found.add(c)
                    specific.setdefault(c, c)
                else:
                    blocked = True
                i += 2
                continue
        w = words[i]
        c, noun, group = _word_concept(w, animal_context)
        if c:
            found.add(c)
            specific.setdefault(c, w if w not in _ALIASES else w)
        elif noun:
            others.append((noun, group, w))
        i += 1
    return found, others, specific, blocked


@dataclasses.dataclass(frozen=True)
class MappedSource:
    """A source assigned to one concept."""

    source: Source
    concept: str
    group: str  # "animal", "clothing" or "object"
    specific: str  # the word that matched ("parrot" for bird); equals concept if none
    downstream: bool
    weak: bool  # a head / face / footprint rather than the whole object


def cached_map_sources() -> list[MappedSource]:
    """:func:`map_sources` of :func:`list_sources`, cached on disk (WordNet lookups take ~15 s).

    Keyed by every source's fields, the WordNet files and this module's code, so new clip-art,
    another WordNet or a changed mapping rule rebuilds it.
    """
    import hashlib
    import pickle

    from ..paths import cache_dir
    from ..wordnet import DEBIAN_WORDNET_DIR
    from ..utils import atomic_write_bytes, stable_hash

    sources = list_sources()
    wn = Path(os.environ.get("SYNTHREC_WORDNET") or DEBIAN_WORDNET_DIR)
    key = stable_hash({"sources": [dataclasses.astuple(s) for s in sources],
                       "wordnet": sorted((f.name, f.stat().st_size) for f in wn.glob("*")) if wn.is_dir() else None,
                       "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()})
    path = cache_dir() / "mini" / "mapped_sources" / f"{key}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    mapped = map_sources(sources)
    atomic_write_bytes(path, pickle.dumps(mapped))
    return mapped


def map_sources(sources: tuple[Source, ...] | None = None) -> list[MappedSource]:
    """Assign each source to at most one concept (see the module docstring for the rules)."""
    sources = list_sources() if sources is None else sources
    out: list[MappedSource] = []
    for src in sources:
        parts = set(Path(src.path).parts)
        if parts & _SKIP_PARTS:
            continue
        animal_ctx = src.category == "animals"
        stem_words = tokens(Path(src.path).stem)
        weak = any(w in _WEAK for w in stem_words) or (src.kind == "emoji" and len(stem_words) > 1)
        chosen = None
        first_other = None
        levels = (src.primary, src.folder, src.keywords) if animal_ctx else (src.primary, src.folder)
        for level, words in enumerate(levels):
            found, others, specific, blocked = _concepts_in(words, animal_ctx)
            if level == 0 and others:
                first_other = others[0]
            if len(found) > 1:
                chosen = "skip"
                break
            if len(found) == 1 and src.category in _NO_DOWNSTREAM_CATEGORIES:
                break  # flags and signs are not pictures of an animal or a garment
            if len(found) == 1:
                c = found.pop()
                if level > 0 and first_other is not None and first_other[1] == "animal":
                    break  # the title names another animal ("tiger" in a "big cats" folder)
                group = "animal" if c in ANIMAL_CONCEPTS else "clothing"
                chosen = MappedSource(src, c, group, specific.get(c, c), True, weak)
                break
            if blocked:
                break
        if chosen == "skip":
            continue
        if chosen is not None:
            out.append(chosen)
        elif first_other is not None:
            noun, group, word = first_other
            out.append(MappedSource(src, noun, group, noun, False, weak))
    return out
