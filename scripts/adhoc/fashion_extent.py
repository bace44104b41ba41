"""How big are real vs MiniGen Fashion-MNIST items? Lit-pixel (> 0.15) bounding-box height and width,
fill, ink and texture per class: real held-out images, MiniGen samples ("a grayscale picture of a ...",
seed 0) and corpus grayscale images. The numbers behind fashion_shape.py."""
import numpy as np, torch
from synthrec_core.mini import evaluate as E
from synthrec_core.mini.corpus import load_corpus, corpus_preset
from synthrec_core.models import load_generator
torch.set_num_threads(2)
pipe = load_generator("minigen", scheduler="dpm")
c = load_corpus(corpus_preset("mini"))
def norm(a):
    a = np.asarray(a, dtype=np.float32); return a/255. if a.max() > 1.5 else a
def ext(imgs):
    imgs = norm(imgs); m = imgs > 0.15
    rows = m.any(2); cols = m.any(1)
    h = rows.sum(1); w = cols.sum(1); fill = m.mean((1,2)); mean_in = np.array([im[mm].mean() if mm.any() else 0 for im, mm in zip(imgs, m)])
    tex = np.array([im[mm].std() if mm.any() else 0 for im, mm in zip(imgs, m)])
    return f"h {h.mean():4.1f} w {w.mean():4.1f} fill {fill.mean():.2f} ink {mean_in.mean():.2f} tex {tex.mean():.2f}"
ds = "fashion_mnist"
sp = E._splits(ds, report_on="holdout"); cl = list(sp.train.classnames)
s = E.generate_class_images(pipe, E.gate3_prompts(ds, cl), 32, 0, 10, 3.0, progress=False)
print("all real ", ext(sp.test.images)); print("all gen  ", ext(s.reshape(-1,32,32)))
for k, n in enumerate(cl):
    cg = c.images[(c.concept == n) & (c.style == "grayscale")]
    print(f"{n:11s} real {ext(sp.test.images[sp.test.labels==k])} | gen {ext(s[k])} | corpus {ext(cg)}")
