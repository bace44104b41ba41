"""The mini world's scorecard and its selection rule: gate tables, and choosing a variant on held-out data.

:func:`gate_table` / :func:`gate_summary` turn gate results into the chapter's scorecard, with
the thresholds of the profile (``world.gates``). :func:`select_variant` is the fixed rule the
selection scripts (``scripts/miniclip_ablation.py``, ``gate3_recipe.py``, ``minigen_stage.py``)
apply to numbers measured on held-out train images; :func:`selection_table` /
:func:`selection_gains` read what they wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import check_choice

__all__ = ["gate_table", "gate_summary", "select_variant", "finish_selection", "SELECTIONS", "selection_results_path",
           "selection_table", "selection_gains"]


def _gates() -> dict[str, Any]:
    from .gates import world

    return world()["gates"]


def gate_table(results: dict[str, Any]) -> pd.DataFrame:
    """Each gate per dataset: the measured value, the threshold and whether it holds. Gate-3 rows
    also carry the corpus ceiling and ``eval SE``: the gain's standard error from the finite
    report split (mean over seeds), which the seed spread in the threshold does not include."""
    th = _gates()
    rows = []
    for n, share in results.get("minigen_class_accuracy", {}).items():
        rows.append({"gate": "1 MiniGen follows prompts", "dataset": n, "measured": share, "threshold": f">= {th['gate1_min'][n]:.2f}",
                     "holds": share >= th['gate1_min'][n]})
    for n, d in results.get("minigen_detail", {}).items():
        if "same_seed_different_prompt" in d:  # "about as much" read as at least gate1_distance_ratio of it
            ratio = d["same_seed_different_prompt"] / max(d["different_seed_same_prompt"], 1e-9)
            rows.append({"gate": "1 MiniGen follows prompts", "dataset": f"{n} (prompt vs seed distance)", "measured": ratio,
                         "threshold": f">= {th['gate1_distance_ratio']:.2f}", "holds": ratio >= th['gate1_distance_ratio']})
    for n, zs in results.get("miniclip_zero_shot", {}).items():
        probe = results["linear_probe_16shot"][n]
        rows.append({"gate": "2 MiniCLIP zero-shot", "dataset": n, "measured": zs,
                     "threshold": f">= {th['gate2_min'][n]:.2f} and < probe {probe:.3f}", "holds": th['gate2_min'][n] <= zs < probe})
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
            need = min(_gates()["gate3_min_datasets"], len(rows))
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
    from .gates import DATASETS

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
    from .gates import REPORT_SPLITS

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
    from .gates import DATASETS

    seen = list(dict.fromkeys(table.index.get_level_values("dataset")))
    wide = cell.unstack("dataset")[[d for d in DATASETS if d in seen] + [d for d in seen if d not in DATASETS]]
    wide["gate-3 datasets"] = table["gain > spread"].groupby(level=0).sum().astype(int)
    return wide


def findings_text(results: dict[str, Any], table: pd.DataFrame, profile: str) -> str:
    """The chapter's closing paragraphs, written from this run's gate results (no number typed by hand)."""
    lines = [gate_summary(table, profile), ""]
    acc, det = results.get("minigen_class_accuracy", {}), results.get("minigen_detail", {})
    if acc:
        lines.append("- **Gate 1.** Share of MiniGen's samples the corpus-trained judge assigns to the prompted class: "
                     + ", ".join(f"{d} {100 * v:.1f}% (judge on real test images {100 * det[d]['judge_real_test_accuracy']:.1f}%)"
                                 for d, v in acc.items()) + ".")
    zs = results.get("miniclip_zero_shot", {})
    if zs:
        lines.append("- **Gate 2.** MiniCLIP zero-shot against the 16-shot probe: "
                     + ", ".join(f"{d} {100 * v:.1f}% vs {100 * results['linear_probe_16shot'][d]:.1f}%" for d, v in zs.items()) + ".")
    gain, ceil, sd = results.get("synthetic_gain", {}), results.get("synthetic_ceiling", {}), results.get("synthetic_detail", {})
    if gain:
        parts = []
        for d, g in gain.items():
            se = float(np.mean(sd[d]["gain_eval_se"])) if sd.get(d, {}).get("gain_eval_se") else float("nan")
            c = f", ceiling {100 * ceil[d]['mean']:+.2f}" if d in ceil else ""
            parts.append(f"{d} {100 * g['mean']:+.2f} ± {100 * g['std']:.2f} (eval SE {100 * se:.2f}{c})")
        lines.append(f"- **Gate 3** (recipe \"{results.get('gate3_recipe', {}).get('name', '?')}\"), gain in points over "
                     f"{len(next(iter(gain.values()))['seeds'])} seeds: " + "; ".join(parts) + ".")
        flat = [d for d in ceil if ceil[d]["mean"] <= ceil[d]["std"]]
        if flat:
            lines.append(f"- Where the corpus ceiling is at or below its spread ({', '.join(flat)}), even perfect copies of the "
                         "corpus do not move the head: the gap to the few-shot probe is a domain gap, corpus to real, that "
                         "text-conditioned samples of the corpus cannot close (real guidance, in the few-shot chapter, is the "
                         "paper's tool for it).")
        above = [d for d in ceil if d in gain and ceil[d]["mean"] - gain[d]["mean"] > max(ceil[d]["std"], gain[d]["std"])]
        if above:
            lines.append(f"- Where the ceiling lies above MiniGen's gain ({', '.join(above)}), the corpus style holds information "
                         "MiniGen does not yet reproduce.")
    if profile == "ci":
        lines.append("- Under the CI defaults the models train for seconds, so the gates are expected to fail: these numbers "
                     "test the code path only.")
    return "\n".join(lines)
