"""WordNet 3.0 offline: the database Debian's ``wordnet-base`` installs, opened through nltk.

:func:`wordnet` opens ``/usr/share/wordnet`` (or ``$SYNTHREC_WORDNET``) through nltk, after
writing the ``lexnames`` file nltk expects beside a copy of the database in
``cache_dir()/wordnet`` (nothing is written into /usr; nltk refuses symlinks that leave its
corpus root). Used by the offline language enhancer (:mod:`synthrec_core.prompts`) and the mini
world's clip-art mapping.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from .paths import cache_dir

__all__ = ["wordnet", "wordnet_dir", "WordNetUnavailable", "DEBIAN_WORDNET_DIR"]

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
