"""The offline mini world: a foundation corpus, MiniCLIP and MiniGen trained here from real assets.

Submodules: ``corpus`` (the captioned "web" corpus built from Debian fonts, clip-art and emoji).
"""
