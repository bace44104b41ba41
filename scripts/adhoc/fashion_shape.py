"""Diagnostic, never a recipe: are MiniGen's Fashion-MNIST images held back by their shape? Real
tops and dresses are taller than wide (27.7 x 21 px), MiniGen's wider than tall (25 x 27). Squeeze
MiniGen's images horizontally about the centre and re-measure the gate-3 gain (held-out, paper CT)."""
import numpy as np, torch, torch.nn.functional as F
from synthrec_core.mini import evaluate as E
from synthrec_core.models import load_clip, load_generator
from synthrec_core.classifier import HeadConfig, ZeroShotHead, accuracy, tune_head
torch.set_num_threads(2)
model, _, tok = load_clip("MiniCLIP-CNN", "mini")
pipe = load_generator("minigen", scheduler="dpm")
ls = float(model.logit_scale.detach())
name = "fashion_mnist"
sp = E._splits(name, report_on="holdout"); cl = list(sp.train.classnames)
f = {s: E.image_features(model, sp[s].images) for s in ("val", "test")}
zs = E.zero_shot(model, tok, name, sp, f); head = ZeroShotHead(zs["weights"], logit_scale=ls)

def squeeze(imgs, sx, sy=1.0):
    x = torch.as_tensor(np.asarray(imgs, dtype=np.float32))[:, None]
    theta = torch.tensor([[1 / sx, 0, 0], [0, 1 / sy, 0]], dtype=torch.float32).expand(len(x), 2, 3)
    g = F.affine_grid(theta, x.shape, align_corners=False)
    return F.grid_sample(x, g, align_corners=False)[:, 0].numpy()

for tag, (sx, sy) in {"as generated": (1, 1), "width x0.8": (0.8, 1), "width x0.7": (0.7, 1),
                      "width x0.8, height x1.1": (0.8, 1.1)}.items():
    g = []
    for seed in (0, 1, 2):
        s = E.generate_class_images(pipe, E.gate3_prompts(name, cl), 32, seed, 10, 3.0, progress=False)
        imgs = s.reshape(-1, 32, 32)
        if imgs.max() > 1.5: imgs = imgs / 255.0
        x = E.image_features(model, squeeze(imgs, sx, sy) if sx != 1 else imgs); y = np.repeat(np.arange(10), 32)
        h, _ = tune_head(head, x, y, HeadConfig(seed=seed, batch_size=320), val=(f["val"], sp.val.labels))
        g.append(100 * (accuracy(h, f["test"], sp.test.labels) - zs["test"]))
    print(f"{tag:24s} gain {np.mean(g):+.2f} ± {np.std(g):.2f}", flush=True)
