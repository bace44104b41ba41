"""Write notebooks/03_pretraining.ipynb (cells kept short; the work is in synthrec_core)."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

MD, CODE = new_markdown_cell, new_code_cell
cells = [
    MD("""# Pre-training on synthetic data, then transfer

*Is synthetic data ready for image recognition?* The paper's third setting (§3) uses generated
images not to tune a classifier but to **pre-train a backbone**, which is then transferred to
downstream tasks. Synthetic sets are made with language-enhanced (LE) prompts and no CLIP
filter, over a label space that is not the downstream one (the paper's *downstream-agnostic*
ImageNet setting). Each backbone is compared against the same network **from scratch** and
against pre-training on the **same number of real images** of that label space.

Every number on this page is read from `results/`; the profile that produced it is named in the
banner below. Selection (probe regularisation or fine-tuning epoch and lr) uses validation; the
test split is used once per reported number."""),
    CODE("""# Parameters: these defaults are the tiny CI run; configs/<profile>/03_pretraining.yaml holds the profiles' values.
profile = "ci"
models = "mini"
device = "cpu"
recipe = "mini"
source = "animal_mnist"
downstream = ["fashion_mnist"]
sizes = [2, 4]
methods = ["supervised"]
seeds = [0, 1]
le_sentences = 4
backbone = "resnet-mini"
norm = "group"
pretrain_epochs = 1
global_batch = 16
transfer_mode = "linear"
transfer_epochs = 3
downstream_per_class = 5
eval_limit = 150
n_boot = 200""", metadata={"tags": ["parameters"]}),
    CODE("""from synthrec_core import params
params.check_namespace("03_pretraining", globals())"""),
    CODE("""from IPython.display import Markdown, display
from synthrec_core import report
from synthrec_core import pretraining_findings as pf
from synthrec_core import pretraining_study as study
from synthrec_core.grid import Grid
from synthrec_core.toolkit import load_toolkit
from synthrec_core.zero_shot_findings import summary_text

report.setup_figures()
parameters = {k: globals()[k] for k in params.schema("03_pretraining")}
results = report.Results(profile, "03_pretraining", parameters)
cfg = study.study_config(parameters)
tk = load_toolkit(models, device=device)
grid = Grid(f"03_pretraining/{models}")
results["setup"] = {"models": models, "generator": tk.gen, "study": cfg.to_dict(),
                    "pretrain": {m: cfg.pretrain_config(m, 0).to_dict() for m in cfg.methods}}
report.profile_banner(profile)"""),
    MD("""## The runs and their settings

One frozen config (`StudyConfig`) describes the study; the pre-training recipes start from the
presets in `synthrec_core.pretrain_config` (the `paper-*` ones follow §3: ResNet-50, SGD lr 0.2
for 90 epochs supervised, MoCo v2's settings for 200 epochs). The sizes this page ran are below,
beside the paper's 1.2M-4M images."""),
    CODE("""n_classes = len(tk.splits(source).classnames)
display(Markdown(f"Source label space: **{source}** ({n_classes} classes); synthetic sets of "
                 f"{', '.join(str(n * n_classes) for n in sizes)} images ({', '.join(map(str, sizes))} per class); "
                 f"{pretrain_epochs} pre-training epochs; transfer by **{transfer_mode}** to {', '.join(downstream)} "
                 f"with {downstream_per_class} real training images per class; seeds {seeds}."))
report.settings_table(cfg.pretrain_config(methods[0], 0))"""),
    MD("""## Transfer: synthetic vs real pre-training vs scratch

For each seed, the seed draws the synthetic set (generation seed), the real subset, the
pre-training run and the transfer. Pre-training runs are cached by their run key and each
transfer is one grid cell, so a crash loses nothing and a warm re-run reads everything back."""),
    CODE("""df, down, histories = study.run(tk, cfg, grid)
results.table("transfer", df.drop(columns=["test_pred"]))
summary = study.summary(df)
results.table("summary", summary)
summary.round(2)"""),
    CODE("""fig = study.plot(df, profile)"""),
    MD("""## Pre-training throughput

Images per second on this machine (both cores) and the share of step time spent making batches
(augmentation on decoded tensors; it must not dominate)."""),
    CODE("""tp = study.throughput(histories)
results["throughput"] = tp.to_dict(orient="records")
tp.round(3)"""),
    MD("""## Findings F12-F13

F12: the largest synthetic set's backbone minus the scratch backbone (mean over downstream
datasets, per seed); its note gives the gap to real pre-training of the same size. F13: the
largest synthetic set minus the smallest. Intervals: paired bootstrap over test images and seeds."""),
    CODE("""findings = pf.all_findings(df, {d: v.test_labels for d, v in down.items()}, n_boot=n_boot)
results["findings"] = findings
results["grid"] = grid.summary()
report.findings_table(findings)"""),
    MD("""## What we found"""),
    CODE("""Markdown(summary_text(results.data, profile, section="pre-training"))"""),
    CODE("""acc = summary.groupby(["init", "method"])["test_acc_mean"].mean()
n_img = max(sizes) * n_classes
display(Markdown(f"Scale check (**{profile}**): the largest set here is {n_img:,} images against the paper's 1.2M-4.0M, "
                 f"pre-trained for {pretrain_epochs} epochs. Mean transfer accuracy over the downstream sets: scratch "
                 f"{acc[('scratch', 'none')]:.1f}%, " + ", ".join(f"{i} {m} {a:.1f}%" for (i, m), a in acc.items() if i != "scratch")
                 + ". Where the random backbone's features probe about as well as the pre-trained ones, this scale cannot show "
                 "the paper's gap; a finding marked not reproduced above is not reproduced *at this scale*."))"""),
    MD("""**Not run here.** The paper profile (`configs/paper/03_pretraining.yaml`) needs GPUs
(`torchrun -m synthrec_core.pretraining`), a streaming loader for sets of millions of images
(this page decodes a set into memory) and ImageNet's train split as a folder. The label-space
size (the paper's ImageNet-2K), the real-init + synthetic rows, ViT backbones and VOC detection
(`transfer.faster_rcnn` is the hook) are not measured on this page."""),
    CODE("""_ = results.finish()  # what this run cost, for the book's cost table"""),
]
for i, c in enumerate(cells):
    c["id"] = f"cell-{i:02d}"
nb = new_notebook(cells=cells, metadata={"kernelspec": {"display_name": "synthrec (.venv)", "language": "python", "name": "synthrec"},
                                          "language_info": {"name": "python"}})
Path("notebooks/03_pretraining.ipynb").write_text(nbformat.writes(nb))
