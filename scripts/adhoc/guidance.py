import sys, torch, numpy as np
torch.set_num_threads(2)
from synthrec_core.mini import evaluate as E
from synthrec_core.models import load_clip, load_generator
model, _, tok = load_clip("MiniCLIP-CNN", "mini")
pipe = load_generator("minigen", scheduler="dpm")
for gs in (1.5,):
    for rec in ("paper CT", "very bold, paper CT"):
        ds = ("mnist", "digits", "fashion_mnist") if rec == "paper CT" else ("mnist", "digits")
        r = E.synthetic_gain(model, tok, pipe, ds, steps=10, guidance_scale=gs, report_on="holdout", progress=False, **E.gate3_kwargs(rec))
        for d in ds:
            g = r["synthetic_gain"][d]
            print(f"cfg {gs} {rec:22s} {d:14s} gain {100*g['mean']:+.2f} ± {100*g['std']:.2f}", flush=True)
