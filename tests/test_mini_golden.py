"""A golden slice of the shipped MiniGen, the way diffusers tests its pipelines: a few pixels of one
seeded sample (fixed prompt, seed, scheduler, steps, guidance) against recorded values.

It fails when the shipped weights, the pipeline (text encoding, guidance, space-to-depth), the
scheduler config or the packaged MiniLM change what MiniGen draws.

To re-record after an intended change (new weights, say), print the slice and paste it below:

    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python -c "import tests.test_mini_golden as t; t.print_slice()"

and say in the commit why the pixels moved.
"""

from __future__ import annotations

import numpy as np
import torch

PROMPT = "a handwritten digit 7"
SEED, STEPS, GUIDANCE, SCHEDULER = 0, 10, 3.0, "dpm++"
ROWS, COLS = slice(11, 15), slice(9, 17)  # a 4 x 8 patch across the stroke of the seven (mid-gray values, not only 0 / 1)
#: recorded from the shipped weights (commit of this file), 1 CPU thread; identical at 2 threads
EXPECTED = np.array([
    [0.5088, 0.1019, 0.0000, 0.0049, 0.0805, 0.4331, 0.9184, 1.0000],
    [1.0000, 0.8660, 0.4578, 0.5447, 0.8713, 1.0000, 0.8353, 0.8562],
    [0.8132, 1.0000, 1.0000, 1.0000, 1.0000, 0.7417, 0.3344, 0.8675],
    [0.1060, 0.5142, 0.7501, 0.6741, 0.5309, 0.1305, 0.1820, 0.8995],
])
ATOL = 2e-3  # rounding of the recorded values (5e-5) plus float differences between CPUs and BLAS builds


def golden_slice(seed: int = SEED) -> np.ndarray:
    """The slice of the shipped MiniGen's seeded sample."""
    from synthrec_core.models import load_generator

    torch.set_num_threads(1)
    pipe = load_generator("minigen", scheduler=SCHEDULER)
    out = pipe(PROMPT, num_inference_steps=STEPS, guidance_scale=GUIDANCE, output_type="np",
               generator=torch.Generator().manual_seed(seed)).images
    assert out.shape == (1, 32, 32, 1)
    return out[0, ROWS, COLS, 0]


def print_slice() -> None:
    """Print the current slice in the layout of :data:`EXPECTED` (to re-record it)."""
    print(np.array2string(golden_slice(), precision=4, separator=", ", floatmode="fixed"))


def test_shipped_minigen_golden_slice():
    got = golden_slice()
    assert np.abs(got - EXPECTED).max() < ATOL, f"max difference {np.abs(got - EXPECTED).max():.4g}; got\n{got!r}"
    assert np.abs(golden_slice(SEED + 1) - EXPECTED).max() > 50 * ATOL  # the slice tells samples apart
