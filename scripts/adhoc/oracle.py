"""How much could ANY images give? Tune the zero-shot head (same recipe) on 32 real train images/class,
and on MiniGen images with other tuning batch sizes; holdout report."""
import sys, numpy as np, torch
from synthrec_core.mini import evaluate as E
from synthrec_core.models import load_clip, load_generator
from synthrec_core.classifier import HeadConfig, ZeroShotHead, accuracy, tune_head
from synthrec_core.data import kshot_indices
torch.set_num_threads(2)
model, _, tok = load_clip("MiniCLIP-CNN", "mini")
pipe = load_generator("minigen", scheduler="dpm")
ls = float(model.logit_scale.detach())
for name in E.DATASETS:
    sp = E._splits(name, report_on="holdout")
    classes = list(sp.train.classnames)
    f = {s: E.image_features(model, sp[s].images) for s in ("train", "val", "test")}
    zs = E.zero_shot(model, tok, name, sp, f)
    head = ZeroShotHead(zs["weights"], logit_scale=ls)
    val = (f["val"], sp.val.labels)
    def run(x, y, cfg, seed):
        h, hist = tune_head(head, x, y, cfg.replace(seed=seed, batch_size=min(cfg.batch_size, len(y))), val=val)
        return 100 * (accuracy(h, f["test"], sp.test.labels) - zs["test"]), next(r["epoch"] for r in hist if r["selected"])
    res = {}
    for seed in (0, 1, 2):
        idx = kshot_indices(sp.train.labels, 32, seed)
        for tag, cfg in [("bs512", HeadConfig()), ("bs64", HeadConfig(batch_size=64)), ("bs32lr1e-3", HeadConfig(batch_size=32, lr=1e-3))]:
            res.setdefault(("real32", tag), []).append(run(f["train"][idx], sp.train.labels[idx], cfg, seed))
            s = E.generate_class_images(pipe, E.gate3_prompts(name, classes), 64, seed, 10, 3.0, progress=False)
            for n in (32, 64):
                x = E.image_features(model, s[:, :n].reshape(-1, 32, 32)); y = np.repeat(np.arange(len(classes)), n)
                res.setdefault((f"gen{n}", tag), []).append(run(x, y, cfg, seed))
    print(name, "zs", round(100 * zs["test"], 1), flush=True)
    for k, v in res.items():
        g = [a for a, _ in v]
        print(f"  {k[0]:8s} {k[1]:12s} gain {np.mean(g):+.2f} ± {np.std(g):.2f}  epochs {[e for _, e in v]}", flush=True)
