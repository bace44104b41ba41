"""Diagnostic, never a recipe: scikit-learn digits are 8 px glyphs upsampled to a 20 px box, far
blurrier than MiniGen's digits. Blur MiniGen's digit samples by box-downsampling the 32 px image to
s px and bilinearly back, and re-measure the digits gate-3 gain (held-out, paper CT, seeds 0-2)."""
import numpy as np, torch
from synthrec_core.mini import evaluate as E
from synthrec_core.models import load_clip, load_generator
from synthrec_core.classifier import HeadConfig, ZeroShotHead, accuracy, tune_head
from synthrec_core.mini.train import lowres
torch.set_num_threads(2)
model, _, tok = load_clip("MiniCLIP-CNN", "mini")
pipe = load_generator("minigen", scheduler="dpm")
ls = float(model.logit_scale.detach())
for name in ("digits", "mnist"):
    sp = E._splits(name, report_on="holdout"); cl = list(sp.train.classnames)
    f = {s: E.image_features(model, sp[s].images) for s in ("val", "test")}
    zs = E.zero_shot(model, tok, name, sp, f); head = ZeroShotHead(zs["weights"], logit_scale=ls)
    for stroke in ("", " in very bold strokes"):
        for s in (None, 8, 10, 13):
            g = []
            for seed in (0, 1, 2):
                smp = E.generate_class_images(pipe, E.gate3_prompts(name, cl, template=E.GEN_PROMPTS[name] + stroke), 32, seed, 10, 3.0, progress=False)
                imgs = smp.reshape(-1, 32, 32)
                x = E.image_features(model, lowres(imgs, s) if s else imgs); y = np.repeat(np.arange(10), 32)
                h, _ = tune_head(head, x, y, HeadConfig(seed=seed, batch_size=320), val=(f["val"], sp.val.labels))
                g.append(100 * (accuracy(h, f["test"], sp.test.labels) - zs["test"]))
            print(f"{name:7s} stroke '{stroke.strip() or 'none'}' lowres {s}: gain {np.mean(g):+.2f} ± {np.std(g):.2f}", flush=True)
