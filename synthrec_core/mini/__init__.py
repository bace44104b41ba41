"""The offline mini world: a foundation corpus, MiniCLIP and MiniGen trained here from real assets.

Corpus submodules: ``corpus`` (config, build/load, hashes, transfer check — the entry point),
``corpus_fonts`` / ``corpus_render`` / ``corpus_text`` (typography, framing, captions),
``corpus_sources`` / ``corpus_objects`` / ``corpus_procedural`` (clip-art and garment objects),
``corpus_transfer`` (small-CNN upper-bound check on real downstream data).
"""
