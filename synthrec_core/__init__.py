"""synthrec_core: the small library behind the synthrec book.

Reproduces *Is synthetic data from generative models ready for image recognition?*
(He et al., ICLR 2023). Modules:

- ``config`` / ``profiles``: validated frozen dataclasses and the ``mini`` / ``paper`` presets.
- ``data``: downstream datasets, splits, k-shot sampling, ImageFolder sets.
- ``mini``: the offline mini world (foundation corpus, MiniCLIP, MiniGen).
- ``generation`` / ``filtering`` / ``features``: the synthetic-data engine.
- ``report``: saving results and figure style.
"""

__version__ = "0.1.0"
