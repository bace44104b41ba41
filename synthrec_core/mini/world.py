"""The mini world in one place for the foundation notebook: get the models, figure them.

:func:`foundation_models` either retrains tiny MiniCLIP/MiniGen from a corpus preset (the
notebook's CI defaults) or loads the shipped weights (the ``mini`` profile). The figure helpers
draw the corpus, training curves, MiniGen samples and the gate results from saved data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..config import check_choice
from ..report import stamp

__all__ = [
    "foundation_models",
    "training_curves",
    "concept_counts",
    "plot_corpus_styles",
    "plot_concept_counts",
    "plot_training_curves",
    "plot_samples",
    "style_prompts",
    "plot_zero_shot",
    "plot_synthetic_gain",
    "gate_table",
    "gate_summary",
    "selection_table",
    "selection_gains",
    "select_variant",
    "finish_selection",
    "SELECTIONS",
    "selection_results_path",
]

#: issue 3's gate thresholds
GATE1_MIN = {"mnist": 0.8, "digits": 0.8, "animal_mnist": 0.5, "fashion_mnist": 0.5}
GATE2_MIN = {"mnist": 0.5, "digits": 0.5, "animal_mnist": 0.35, "fashion_mnist": 0.35}
GATE1_DISTANCE_RATIO = 0.8  # same-seed/different-prompt over different-seed/same-prompt pixel distance
GATE3_MIN_DATASETS = 3  # gate 3 holds when the gain beats the seed spread on at least this many datasets


def _shipped_arch() -> str:
    from ..models import MINI_WEIGHTS

    f = MINI_WEIGHTS / "miniclip" / "arch.txt"
    return f.read_text().strip() if f.exists() else "MiniCLIP-CNN"


def foundation_models(source: str, corpus: str = "tiny", miniclip_preset: str = "tiny",
                      minigen_preset: str = "tiny") -> dict[str, Any]:
    """``{"clip": (model, preprocess, tokenizer), "gen": pipeline, "runs": {name: folder}, "gen_id", "clip_id"}``.

    ``source="train"`` trains (or resumes, cached by config) the named presets on ``corpus``;
    ``source="shipped"`` loads the weights shipped in ``synthrec_core/mini/weights``.
    """
    check_choice("models", source, ("train", "shipped"))
    if source == "shipped":
        from ..models import MINI_WEIGHTS, load_clip, load_generator

        runs = {p.parent.name: p.parent for p in sorted(MINI_WEIGHTS.glob("*/loss*.csv"))}
        return {"clip": load_clip(_shipped_arch(), "mini"), "gen": load_generator("minigen"), "runs": runs,
                "gen_id": "minigen", "clip_id": f"{_shipped_arch()}/mini"}
    from .train import MINICLIP_PRESETS, MINIGEN_PRESETS, load_miniclip_run, minigen_from_checkpoint, train_miniclip, train_minigen

    check_choice("miniclip_preset", miniclip_preset, MINICLIP_PRESETS)
    check_choice("minigen_preset", minigen_preset, MINIGEN_PRESETS)
    clip_run = train_miniclip(MINICLIP_PRESETS[miniclip_preset].replace(corpus=corpus))
    gen_run = train_minigen(MINIGEN_PRESETS[minigen_preset].replace(corpus=corpus))
    return {"clip": load_miniclip_run(clip_run), "gen": minigen_from_checkpoint(gen_run),
            "runs": {"miniclip": Path(clip_run), "minigen": Path(gen_run)},
            "gen_id": f"minigen-run/{Path(gen_run).name}", "clip_id": f"miniclip-run/{Path(clip_run).name}"}


def training_curves(runs: dict[str, Path]) -> pd.DataFrame:
    """Loss per step of each run folder (``loss.csv`` or ``loss*.csv``), long format."""
    frames = []
    for name, folder in runs.items():
        for f in sorted(Path(folder).glob("loss*.csv")):
            df = pd.read_csv(f)
            df.insert(0, "model", name if f.stem == "loss" else f"{name} ({f.stem})")
            frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["model", "step", "loss"])


def concept_counts(corpus: Any, concepts: Sequence[str]) -> pd.DataFrame:
    """Corpus images per (concept, style) for the given concepts (0 where none)."""
    df = pd.DataFrame({"concept": corpus.concept, "style": corpus.style})
    df = df[df.concept.isin(list(concepts))]
    table = df.value_counts().unstack(fill_value=0).reindex(list(concepts), fill_value=0)
    table["total"] = table.sum(axis=1)
    return table


def plot_corpus_styles(corpus: Any, per_style: int = 12, seed: int = 0, profile: str = "mini"):
    """One row of random corpus images per style, with one caption each."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    styles = [s for s in ("handwritten", "typed", "silhouette", "outline", "grayscale") if (corpus.style == s).any()]
    fig, axes = plt.subplots(len(styles), per_style, figsize=(per_style * 0.75, len(styles) * 0.95 + 0.4), squeeze=False)
    for r, s in enumerate(styles):
        idx = rng.choice(np.flatnonzero(corpus.style == s), size=min(per_style, int((corpus.style == s).sum())), replace=False)
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([]), ax.set_yticks([])
            if c < len(idx):
                ax.imshow(corpus.images[idx[c]], cmap="gray", vmin=0, vmax=255)
                ax.set_title(str(corpus.concept[idx[c]])[:10], fontsize=7)
            else:
                ax.axis("off")
        axes[r][0].set_ylabel(s, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle("foundation corpus: random images per style (title = concept)", fontsize=11)
    stamp(fig, profile)
    return fig


def plot_concept_counts(counts: pd.DataFrame, profile: str = "mini"):
    """Stacked bars: corpus images per downstream concept, by style."""
    import matplotlib.pyplot as plt

    styles = [c for c in counts.columns if c != "total"]
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(counts) + 1))
    counts[styles].plot.barh(stacked=True, ax=ax, width=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("corpus images")
    ax.set_ylabel("")
    ax.set_title("corpus images per downstream concept")
    stamp(fig, profile)
    return fig


def plot_training_curves(curves: pd.DataFrame, profile: str = "mini"):
    """Loss against step, one panel per run (smoothed over 25 steps)."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(curves["model"])) or ["(no training log)"]
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3), squeeze=False)
    for ax, m in zip(axes[0], models):
        d = curves[curves["model"] == m]
        if len(d):
            ax.plot(d["step"], d["loss"], alpha=0.3, lw=0.8)
            ax.plot(d["step"], d["loss"].rolling(25, min_periods=1).mean(), lw=1.5)
        ax.set_title(m, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
    stamp(fig, profile)
    return fig


#: one prompt per corpus style, in the corpus's caption wording
OBJECT_STYLE_PROMPTS = {"silhouette": "a white silhouette of a {} on a black background",
                        "outline": "a white outline of a {} on a black background",
                        "grayscale": "a grayscale picture of a {}"}
DIGIT_STYLE_PROMPTS = {"handwritten": "a handwritten digit {}", "typed": "a printed number {}"}


def style_prompts(objects: Sequence[str] = ("dog", "sneaker"), digits: Sequence[str] = ("seven",)) -> dict[str, str]:
    """``{"concept / style": prompt}`` for every corpus style of each object and digit concept."""
    from ..prompts import DIGIT_NAMES

    out = {f"{o} / {s}": t.format(o) for o in objects for s, t in OBJECT_STYLE_PROMPTS.items()}
    for d in digits:
        out[f"{d} / handwritten"] = DIGIT_STYLE_PROMPTS["handwritten"].format(DIGIT_NAMES.index(d))
        out[f"{d} / typed"] = DIGIT_STYLE_PROMPTS["typed"].format(d)
    return out


def plot_samples(samples: np.ndarray, classnames: Sequence[str], title: str, profile: str = "mini", per_class: int = 10):
    """MiniGen samples ``uint8 [C, n, 32, 32]`` as one grid, one row per class."""
    import matplotlib.pyplot as plt

    c, n = samples.shape[:2]
    n = min(n, per_class)
    grid = np.zeros((c * 34 - 2, n * 34 - 2), np.uint8)
    for i in range(c):
        for j in range(n):
            grid[i * 34: i * 34 + 32, j * 34: j * 34 + 32] = samples[i, j]
    fig, ax = plt.subplots(figsize=(n * 0.55 + 1.8, c * 0.55 + 0.7))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks([i * 34 + 16 for i in range(c)], labels=list(classnames), fontsize=9)
    ax.set_xticks([])
    ax.grid(False)
    ax.set_title(title, fontsize=10)
    stamp(fig, profile)
    return fig


def plot_zero_shot(results: dict[str, Any], profile: str = "mini"):
    """MiniCLIP zero-shot per dataset beside chance and the 16-shot linear probe."""
    import matplotlib.pyplot as plt

    names = list(results["miniclip_zero_shot"])
    df = pd.DataFrame({
        "chance": [results["chance"][n] for n in names],
        "zero-shot (val-chosen prompt)": [results["miniclip_zero_shot"][n] for n in names],
        "16-shot linear probe": [results["linear_probe_16shot"][n] for n in names],
    }, index=names) * 100
    fig, ax = plt.subplots(figsize=(7, 3.2))
    df.plot.bar(ax=ax, rot=0, width=0.8)
    ax.set_ylabel("test top-1 (%)")
    ax.set_title("MiniCLIP on downstream data it never saw")
    stamp(fig, profile)
    return fig


def plot_synthetic_gain(results: dict[str, Any], profile: str = "mini"):
    """Gate 3: test-accuracy change from tuning the zero-shot head on MiniGen images, beside the
    same tuning on corpus images (the ceiling), mean ± std over seeds, in points."""
    import matplotlib.pyplot as plt

    names = list(results["synthetic_gain"])
    kinds = {"MiniGen images": results["synthetic_gain"]}
    if results.get("synthetic_ceiling"):
        kinds["corpus images (ceiling)"] = results["synthetic_ceiling"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / len(kinds)
    for k, (label, d) in enumerate(kinds.items()):
        xs = np.arange(len(names)) + (k - (len(kinds) - 1) / 2) * width
        ax.bar(xs, [100 * d[n]["mean"] for n in names], width, yerr=[100 * d[n]["std"] for n in names], capsize=3, label=label)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylabel("tuned minus zero-shot (points)")
    ax.set_title("gate 3: tuning MiniCLIP's zero-shot head (mean ± std over seeds)")
    ax.legend(fontsize=8)
    stamp(fig, profile)
    return fig


def gate_table(results: dict[str, Any]) -> pd.DataFrame:
    """Each gate per dataset: the measured value, the threshold and whether it holds. Gate-3 rows
    also carry the corpus ceiling and ``eval SE``: the gain's standard error from the finite
    report split (mean over seeds), which the seed spread in the threshold does not include."""
    rows = []
    for n, share in results.get("minigen_class_accuracy", {}).items():
        rows.append({"gate": "1 MiniGen follows prompts", "dataset": n, "measured": share, "threshold": f">= {GATE1_MIN[n]:.2f}",
                     "holds": share >= GATE1_MIN[n]})
    for n, d in results.get("minigen_detail", {}).items():
        if "same_seed_different_prompt" in d:  # "about as much" read as at least GATE1_DISTANCE_RATIO of it
            ratio = d["same_seed_different_prompt"] / max(d["different_seed_same_prompt"], 1e-9)
            rows.append({"gate": "1 MiniGen follows prompts", "dataset": f"{n} (prompt vs seed distance)", "measured": ratio,
                         "threshold": f">= {GATE1_DISTANCE_RATIO:.2f}", "holds": ratio >= GATE1_DISTANCE_RATIO})
    for n, zs in results.get("miniclip_zero_shot", {}).items():
        probe = results["linear_probe_16shot"][n]
        rows.append({"gate": "2 MiniCLIP zero-shot", "dataset": n, "measured": zs,
                     "threshold": f">= {GATE2_MIN[n]:.2f} and < probe {probe:.3f}", "holds": GATE2_MIN[n] <= zs < probe})
    ceiling = results.get("synthetic_ceiling", {})
    detail = results.get("synthetic_detail", {})
    for n, g in results.get("synthetic_gain", {}).items():
        se = detail.get(n, {}).get("gain_eval_se")
        rows.append({"gate": "3 synthetic data helps", "dataset": n, "measured": g["mean"],
                     "threshold": f"> std {g['std']:.3f} over {len(g['seeds'])} seeds", "holds": g["mean"] > max(g["std"], 0.0),
                     "corpus ceiling": ceiling[n]["mean"] if n in ceiling else None,
                     "eval SE": float(np.mean(se)) if se else None})
    return pd.DataFrame(rows)


def gate_summary(table: pd.DataFrame, profile: str) -> str:
    """One Markdown paragraph per gate: which datasets hold and which do not, from a gate table."""
    lines = [f"Measured under the **{profile}** profile:", ""]
    for gate, rows in table.groupby("gate", sort=True):
        held = [f"{r.dataset} ({r.measured:.3f})" for r in rows.itertuples() if r.holds]
        failed = [f"{r.dataset} ({r.measured:.3f}, needs {r.threshold})" for r in rows.itertuples() if not r.holds]
        if gate.startswith("3"):
            need = min(GATE3_MIN_DATASETS, len(rows))
            verdict = f"{'holds' if len(held) >= need else 'fails'} (needs {need} datasets, has {len(held)})"
        else:
            verdict = "holds" if not failed else ("fails" if not held else f"holds on {len(held)} of {len(rows)}")
        lines.append(f"- **Gate {gate}**: {verdict}. Holds: {', '.join(held) or 'none'}. "
                     f"Fails: {', '.join(failed) or 'none'}.")
    return "\n".join(lines)


def select_variant(variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Choose a variant (a MiniCLIP, a gate-3 recipe) from gate results measured on held-out data
    (never test).

    ``variants`` maps a name to gate-2/3 results (``miniclip_zero_shot``, ``linear_probe_16shot``,
    ``synthetic_gain``). The rule, fixed before looking: a variant must pass gate 2 on every
    dataset; among those, the most datasets passing gate 3 wins, then the larger mean gain.
    Returns the choice (None if no variant passes gate 2) and each variant's score.
    """
    if not variants:
        raise ValueError("select_variant needs at least one variant")
    scores = {}
    for name, res in variants.items():
        table = gate_table({k: res[k] for k in ("miniclip_zero_shot", "linear_probe_16shot", "synthetic_gain")})
        g2, g3 = table[table.gate.str.startswith("2")], table[table.gate.str.startswith("3")]
        scores[name] = {"gate2_all": bool(g2.holds.all()), "gate2_failed": g2[~g2.holds].dataset.tolist(),
                        "gate3_datasets": int(g3.holds.sum()), "mean_gain": float(g3.measured.mean())}
    eligible = [n for n, s in scores.items() if s["gate2_all"]]
    chosen = max(eligible, key=lambda n: (scores[n]["gate3_datasets"], scores[n]["mean_gain"])) if eligible else None
    return {"chosen": chosen, "rule": "gate 2 on all datasets; then most gate-3 datasets; then mean gain",
            "scores": scores}


def finish_selection(out: dict[str, Any], target: Path, report_on: str) -> dict[str, Any]:
    """End of a selection script: on held-out data (either draw) add :func:`select_variant`'s choice to ``out``;
    write ``out`` to ``target`` (atomically) and print the choice and each variant's mean gains."""
    import json

    from ..utils import atomic_write_json
    from .evaluate import DATASETS

    if report_on != "test":
        out["selection"] = select_variant(out["variants"])
        print("selection:", json.dumps(out["selection"], indent=1))
    atomic_write_json(target, out)
    print(json.dumps({v: {d: round(100 * r["synthetic_gain"][d]["mean"], 2) for d in DATASETS}
                      for v, r in out["variants"].items()}))
    return out


#: the held-out selections scripts make, by name: the script that writes them
SELECTIONS = {"miniclip": "scripts/miniclip_ablation.py", "gate3_recipe": "scripts/gate3_recipe.py",
              "minigen_stage": "scripts/minigen_stage.py"}


def selection_results_path(kind: str = "miniclip", profile: str = "mini", report_on: str = "test") -> Path:
    """Where the script of ``kind`` (:data:`SELECTIONS`) writes: ``<kind>_selection.json``
    (held-out train images, with the choice), ``<kind>_selection_holdout2.json`` (the second
    held-out draw) or, on test, ``miniclip_ablation.json`` / ``<kind>.json`` (for the record)."""
    from ..paths import results_dir
    from .evaluate import REPORT_SPLITS

    check_choice("kind", kind, SELECTIONS)
    check_choice("report_on", report_on, REPORT_SPLITS)
    stem = "miniclip_ablation" if kind == "miniclip" else kind
    names = {"test": f"{stem}.json", "holdout": f"{kind}_selection.json", "holdout2": f"{kind}_selection_holdout2.json"}
    return results_dir(profile) / names[report_on]


def selection_table(kind: str = "miniclip", profile: str = "mini", report_on: str = "test") -> pd.DataFrame | None:
    """What the script of ``kind`` (:data:`SELECTIONS`) wrote, one row per (variant, dataset), in
    percent: measured on test or, with ``report_on="holdout"``, on held-out train images with the
    variant :func:`select_variant` chose marked. None if the script has not run."""
    import json

    path = selection_results_path(kind, profile, report_on)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    chosen = data.get("selection", {}).get("chosen")
    rows = []
    for variant, r in data["variants"].items():
        label = f"{variant} (chosen)" if variant == chosen else variant
        for d in r["miniclip_zero_shot"]:
            g = r["synthetic_gain"][d]
            row = {"variant": label, "dataset": d, "zero-shot": 100 * r["miniclip_zero_shot"][d],
                   "16-shot probe": 100 * r["linear_probe_16shot"][d],
                   "MiniGen gain": f"{100 * g['mean']:+.2f} ± {100 * g['std']:.2f}"}
            if "synthetic_ceiling" in r:
                c = r["synthetic_ceiling"][d]
                row["corpus ceiling"] = f"{100 * c['mean']:+.2f} ± {100 * c['std']:.2f}"
            rows.append({**row, "gain > spread": g["mean"] > g["std"]})
    index = "MiniCLIP" if kind == "miniclip" else "recipe"
    return pd.DataFrame(rows).rename(columns={"variant": index}).set_index([index, "dataset"]).round(1)


def selection_gains(kind: str = "gate3_recipe", profile: str = "mini", report_on: str = "test") -> pd.DataFrame | None:
    """:func:`selection_table` as one row per variant: the gate-3 gain per dataset ("+0.37 ± 0.43",
    with ✓ where it exceeds its seed spread) and the number of datasets passing. None if the
    script has not run."""
    table = selection_table(kind, profile, report_on)
    if table is None:
        return None
    cell = table["MiniGen gain"] + table["gain > spread"].map({True: " ✓", False: ""})
    from .evaluate import DATASETS

    seen = list(dict.fromkeys(table.index.get_level_values("dataset")))
    wide = cell.unstack("dataset")[[d for d in DATASETS if d in seen] + [d for d in seen if d not in DATASETS]]
    wide["gate-3 datasets"] = table["gain > spread"].groupby(level=0).sum().astype(int)
    return wide