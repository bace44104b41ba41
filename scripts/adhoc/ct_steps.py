"""Does the CT step count matter? The paper's CT takes ~470 AdamW steps (8,000 kept images, batch
512, 30 epochs); at 320 images per set the paper's settings take 30. Head variants on the cached
gate-3 MiniGen samples (seeds from argv, default 0-4), held-out report only.
:func:`compare_heads` is shared with ``ct_select.py``."""
import sys, torch
from synthrec_core.mini import evaluate as E
from synthrec_core.models import load_clip, load_generator
from synthrec_core.classifier import HeadConfig


def compare_heads(heads: dict, seeds: tuple) -> None:
    """One line per (digit stroke prompt, head config): the held-out gate-3 gain per dataset."""
    torch.set_num_threads(2)
    model, _, tok = load_clip("MiniCLIP-CNN", "mini")
    pipe = load_generator("minigen", scheduler="dpm")
    for stroke in ("very bold", None, "bold"):
        kw = E.gate3_kwargs({"stroke": stroke} if stroke else {})
        for hname, cfg in heads.items():
            r = E.synthetic_gain(model, tok, pipe, seeds=seeds, steps=10, report_on="holdout", progress=False,
                                 head_cfg=cfg, **kw)
            row = "  ".join(f"{d[:6]} {100*g['mean']:+.2f}±{100*g['std']:.2f}" for d, g in r["synthetic_gain"].items())
            print(f"{str(stroke):9s} {hname:22s} {row}", flush=True)


if __name__ == "__main__":
    compare_heads({"paper CT (30 steps)": HeadConfig(), "470 full-batch steps": HeadConfig(epochs=470),
                   "470 steps, batch 20": HeadConfig(batch_size=20)},
                  tuple(int(s) for s in sys.argv[1:]) or (0, 1, 2, 3, 4))
