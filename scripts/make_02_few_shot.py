"""Writes notebooks/02_few_shot.ipynb (the source of truth for its cells is this script)."""
import nbformat as nbf

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
params = code('''# Parameters: these defaults are the tiny CI run; configs/<profile>/02_few_shot.yaml holds the profiles' values.
profile = "ci"
models = "mini"
device = "cpu"
datasets = ["animal_mnist"]
seeds = [0, 1]
shots = [1, 4]
syn_per_class = 4
pool_per_class = 6
le_sentences = 6
epochs = 5
syn_batch = 512
methods = ["zero_shot", "ct_real", "linear_probe", "tip_adapter", "tip_adapter_f", "coop"]
strategies = ["B", "RF", "RG"]
coop_epochs = 2
coop_n_ctx = [4]
saturation_sizes = [2, 4]
bn_dataset = "animal_mnist"
bn_epochs = 1
gallery_strengths = [0.15, 0.5, 1.0]
n_boot = 200''')
params.metadata["tags"] = ["parameters"]
cells = [
    md('''# Few-shot: k real images per class, with synthetic images beside them

The paper's second setting gives the classifier k real training images per class (k = 1 to 16).
Does synthetic data still help when some real images exist, and how should they shape it? Three
ways to make the synthetic set are compared at an equal number of images per class: **B** (the
zero-shot recipe: language-enhanced prompts and the CLIP filter), **RF** (the same pool, real
filter: drop an image whose feature is nearer to another class's real shots than to its own; ties
kept) and **RG** (real guidance: each real shot noised part way and denoised with its class prompt).

Every method runs in one harness: the same k-shot draws (from the training split only), the same
cached features and the same seeds; every choice (epoch, Tip-Adapter's α and β, CoOp's context,
the probe's C) is made on the validation split. The test split is used once per number.'''),
    params,
    code('from synthrec_core import params\nparams.check_namespace("02_few_shot", globals())'),
    code('''from IPython.display import Markdown, display
from synthrec_core import figures, report
from synthrec_core import few_shot_findings as ff
from synthrec_core import few_shot_study as fs
from synthrec_core import zero_shot_study as zs
from synthrec_core.classifier import HeadConfig
from synthrec_core.coop import CoOpConfig
from synthrec_core.few_shot import CoOpGrid
from synthrec_core.grid import Grid
from synthrec_core.toolkit import load_toolkit

report.setup_figures()
results = report.Results(profile, "02_few_shot", {k: globals()[k] for k in params.schema("02_few_shot")})
tk = load_toolkit(models, device=device)
grid = Grid(f"02_few_shot/{models}")
cfg = fs.FewShotConfig(shots=tuple(shots), syn_per_class=syn_per_class, pool_per_class=pool_per_class,
                       le_sentences=le_sentences, head=HeadConfig.paper_mix(epochs=epochs, batch_size=syn_batch))
options = {"coop": CoOpGrid(n_ctx_grid=tuple(coop_n_ctx), base=CoOpConfig(epochs=coop_epochs))}
results["setup"] = {"models": models, "clip": tk.clip_id, "generator": tk.gen, "study": cfg.to_dict()}
report.profile_banner(profile)'''),
    md('## The settings\n\nThe study\'s one frozen config, with the paper\'s values beside it.'),
    code('report.settings_table(cfg, paper=fs.FewShotConfig())'),
    code('''prepared = [zs.prepare(tk, name) for name in datasets]
fs.check_shots(prepared, shots)  # k larger than a class: an error before any work
zt = report.zero_shot_table(prepared)
results.table("zero_shot", zt)
zt'''),
    md('''## Accuracy against shots, every method (the paper's Fig. 1)

Baselines: the zero-shot head; CT from the text initialisation on the real shots only
(`ct_real`); a linear probe; Tip-Adapter and Tip-Adapter-F; CoOp. Synthetic strategies
(`syn_B`, `syn_RF`, `syn_RG`) use mix training: each step one synthetic batch (SCE) and one
real batch (CE). Bands are ± one std over seeds (each seed draws its own shots, generates its own
set and trains its own head).'''),
    code('''curves = fs.curves(tk, prepared, seeds, cfg, grid, methods, strategies, options)
results.table("curves", curves.drop(columns=["test_pred"]))
for name in datasets:
    fig = figures.curve(curves[curves["dataset"] == name], "k", profile, hue="method", xlabel="real shots per class",
                        logx=True, title=f"{name}: accuracy against shots (mean ± std over seeds)")'''),
    md('## B vs RF vs RG at the fewest and the most shots'),
    code('''syn = curves[curves["method"].str.startswith("syn_") & curves["k"].isin([min(shots), max(shots)])]
display(report.gain_table(syn.assign(variant=syn["method"] + " k=" + syn["k"].astype(str)), "variant", "test_acc"))'''),
    md('''## Mix against phase-wise training (Table 7)

The RG set of every draw, trained three ways: mixed batches, synthetic then real (`syn_real`),
and real then synthetic (`real_syn`).'''),
    code('''modes = fs.training_modes(tk, prepared, seeds, cfg, grid)
results.table("modes", modes.drop(columns=["test_pred"]))
fig = figures.curve(modes, "k", profile, hue="mode", xlabel="real shots per class", logx=True, title="mix vs phase-wise")'''),
    md('## Synthetic images per class at the most shots\n\n0 is CT on the real shots alone.'),
    code('''sat = fs.saturation(tk, prepared[0], saturation_sizes, seeds, cfg, grid)
results.table("saturation", sat.drop(columns=["test_pred"]))
fig = figures.curve(sat, "images_per_class", profile, xlabel="RG images per class", title=f"{datasets[0]}, k={max(shots)}")'''),
    md('''## BatchNorm frozen or not (Table 6)

The whole image tower and the head tuned end to end, on the real shots or on the RG set, with
the tower's BatchNorm layers frozen (eval mode, affine fixed) or trained.'''),
    code('''bn_p = next((p for p in prepared if p.name == bn_dataset), None) if bn_dataset else None
bn = fs.bn_grid(tk, bn_p, max(shots), seeds, cfg, grid, epochs=bn_epochs) if bn_p is not None else None
if bn is not None:
    results.table("bn", bn.drop(columns=["test_pred"]))
    display(report.gain_table(bn.assign(variant=bn["data"] + ", BN " + bn["bn"]), "variant", "test_acc"))'''),
    md('''## Real guidance, seen

One real shot per class (left) and what the generator makes of it at each strength: near 0 the
shot comes back almost unchanged; at 1 the shot is ignored and only the class prompt remains.
Every RG image's manifest row names its reference image by content hash and its strength.'''),
    code('''gal = fs.rg_gallery(tk, prepared[0], gallery_strengths)
results["gallery_manifest"] = gal["manifest"][:20]
fig = figures.rg_gallery(gal, profile, f"{datasets[0]}: real shot and its RG variants")'''),
    md('''## Findings against the paper

The mean over seeds with its spread and a 95% paired bootstrap interval over test images and
seeds. **Reproduced** follows the paper's rule (the paper's sign, beyond the seed spread).'''),
    code('''findings = ff.all_findings(prepared, curves, bn, n_boot=n_boot)
results["findings"] = findings
results["grid"] = grid.summary()
report.findings_table(findings)'''),
    md('## What we found'),
    code('Markdown(ff.summary_text(results.data, profile))'),
    code('_ = results.finish()  # what this run cost, for the book\'s cost table'),
]
nb = nbf.v4.new_notebook(cells=cells)
nb.metadata["kernelspec"] = {"name": "synthrec", "display_name": "synthrec (.venv)", "language": "python"}
nb.metadata["language_info"] = {"name": "python"}
nbf.write(nb, "notebooks/02_few_shot.ipynb")
