"""Val-selected epoch vs the paper's schedule run to its end (select="last"), on the cached gate-3
MiniGen samples; held-out report only. argv: seeds (default 0 1 2)."""
import sys, numpy as np, torch
from synthrec_core.mini import evaluate as E
from synthrec_core.models import load_clip, load_generator
from synthrec_core.classifier import HeadConfig
torch.set_num_threads(2)
seeds = tuple(int(s) for s in sys.argv[1:]) or (0, 1, 2)
model, _, tok = load_clip("MiniCLIP-CNN", "mini")
pipe = load_generator("minigen", scheduler="dpm")
heads = {"paper CT, val epoch": HeadConfig(), "paper CT, last epoch": HeadConfig(select="last"),
         "470 steps, last epoch": HeadConfig(epochs=470, select="last")}
for stroke in ("very bold", None, "bold"):
    kw = E.gate3_kwargs({"stroke": stroke} if stroke else {})
    for hname, cfg in heads.items():
        r = E.synthetic_gain(model, tok, pipe, seeds=seeds, steps=10, report_on="holdout", progress=False,
                             head_cfg=cfg, **kw)
        row = "  ".join(f"{d[:6]} {100*g['mean']:+.2f}±{100*g['std']:.2f}" for d, g in r["synthetic_gain"].items())
        print(f"{str(stroke):9s} {hname:22s} {row}", flush=True)
