"""Diagnostic: is the synthetic->real gap in stroke width / resolution / shading? Transform MiniGen images toward the
target domain by hand and re-measure the gate-3 gain on holdout (NOT a recipe; a cause check)."""
import numpy as np, torch
from PIL import Image
from scipy import ndimage
from synthrec_core.mini import evaluate as E
from synthrec_core.models import load_clip, load_generator
from synthrec_core.classifier import HeadConfig, ZeroShotHead, accuracy, tune_head
from synthrec_core.mini.corpus_render import stroke_width
torch.set_num_threads(2)
model, _, tok = load_clip("MiniCLIP-CNN", "mini")
pipe = load_generator("minigen", scheduler="dpm")
ls = float(model.logit_scale.detach())
def dilate(x): return ndimage.grey_dilation(x, size=(1, 2, 2))
def lowres(x, s=8): return np.stack([np.asarray(Image.fromarray(i).resize((s, s), Image.BOX).resize((32, 32), Image.BILINEAR)) for i in x])
def dark(x): return (x.astype(np.float32) * 0.6).astype(np.uint8)
T = {"mnist": {"dilate": dilate}, "digits": {"lowres8": lowres, "dilate": dilate}, "fashion_mnist": {"dark0.6": dark}, "animal_mnist": {}}
for name in ["mnist", "digits", "fashion_mnist"]:
    sp = E._splits(name, report_on="holdout")
    classes = list(sp.train.classnames)
    f = {s: E.image_features(model, sp[s].images) for s in ("val", "test")}
    zs = E.zero_shot(model, tok, name, sp, f)
    head = ZeroShotHead(zs["weights"], logit_scale=ls)
    val = (f["val"], sp.val.labels)
    sw_real = np.mean([stroke_width(i > 127) for i in sp.test.images[:300]])
    def run(x, y, cfg, seed):
        h, hist = tune_head(head, x, y, cfg.replace(seed=seed, batch_size=min(cfg.batch_size, len(y))), val=val)
        return 100 * (accuracy(h, f["test"], sp.test.labels) - zs["test"])
    res = {}
    for seed in (0, 1, 2):
        s = E.generate_class_images(pipe, E.gate3_prompts(name, classes), 32, seed, 10, 3.0, progress=False).reshape(-1, 32, 32)
        y = np.repeat(np.arange(len(classes)), 32)
        for tname, fn in [("none", lambda a: a)] + list(T[name].items()):
            xs = fn(s)
            if seed == 0: print(name, tname, "stroke width syn", round(np.mean([stroke_width(i > 127) for i in xs[:300]]), 2), "real", round(sw_real, 2), "mean px syn", xs.mean().round(1), "real", sp.test.images.mean().round(1), flush=True)
            x = E.image_features(model, xs)
            for tag, cfg in [("bs512", HeadConfig()), ("bs64", HeadConfig(batch_size=64))]:
                res.setdefault((tname, tag), []).append(run(x, y, cfg, seed))
    print(name, "zs", round(100 * zs["test"], 1))
    for k, g in res.items():
        print(f"  {k[0]:8s} {k[1]:6s} gain {np.mean(g):+.2f} ± {np.std(g):.2f}", flush=True)
