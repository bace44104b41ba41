"""Which corpus style should MiniGen's Fashion-MNIST prompt name? Gate-3 gain (paper CT) and the
corpus ceiling per style, held-out report only, seeds 0-2."""
import torch
from synthrec_core.mini import evaluate as E
from synthrec_core.mini.corpus import load_corpus, corpus_preset
from synthrec_core.models import load_clip, load_generator
torch.set_num_threads(2)
model, _, tok = load_clip("MiniCLIP-CNN", "mini")
pipe = load_generator("minigen", scheduler="dpm")
corpus = load_corpus(corpus_preset("mini"))
for style, t in {"grayscale": "a grayscale picture of a {name}",
                 "silhouette": "a white silhouette of a {name} on a black background",
                 "outline": "an outline drawing of a {name}"}.items():
    E.GEN_STYLES["fashion_mnist"] = style
    r = E.synthetic_gain(model, tok, pipe, datasets=("fashion_mnist",), steps=10, report_on="holdout", progress=False,
                         corpus=corpus, gen_prompts={"fashion_mnist": t})
    g, c = r["synthetic_gain"]["fashion_mnist"], r["synthetic_ceiling"]["fashion_mnist"]
    print(f"{style:11s} gain {100*g['mean']:+.2f} ± {100*g['std']:.2f}   corpus ceiling {100*c['mean']:+.2f} ± {100*c['std']:.2f}", flush=True)
