"""Gate 1 with the low-resolution recipe prompts: share of MiniGen digits a judge trained on
low-resolution corpus digits assigns to the prompted digit, and that judge on real digits blurred
the same way; then gate 1 with the default prompts, for comparison."""
import torch
torch.set_num_threads(2)
from synthrec_core.mini import evaluate as E
from synthrec_core.mini.corpus import load_corpus, corpus_preset
from synthrec_core.models import load_generator
pipe = load_generator("minigen", scheduler="dpm")
c = load_corpus(corpus_preset("mini"))
r = E.minigen_gate(pipe, c, ("mnist", "digits"), n_per_class=32, steps=10, seed=0, progress=False,
                   gen_prompts=E.gate3_kwargs("low-res, Fashion outline, paper CT")["gen_prompts"])
print(r["minigen_class_accuracy"], {d: (v["judge_real_test_accuracy"], v["judge_lowres_size"]) for d, v in r["minigen_detail"].items()})
r = E.minigen_gate(pipe, c, ("mnist",), n_per_class=32, steps=10, seed=0, progress=False)
print("default prompts", r["minigen_class_accuracy"], r["minigen_detail"]["mnist"]["judge_real_test_accuracy"])
