"""The paper's published numbers beside this project's results (the comparison chapter).

The paper's numbers are data (``profiles/presets/paper_numbers.yaml``: Tables 1, 2, 3, 7-11, the
saturation, from-scratch and prompt-style numbers, and the findings F1-F13 with the section
that measures each). This module reads the results a profile's runs saved (``results/<profile>/``
and its tagged runs ``results/<profile>@<tag>/``), picks for each column the run whose CLIP
matches the column's backbone, and renders each paper table with, beside every paper number,
ours as mean ± std over seeds, or "not run" when no run of this profile measured it. It never
fills a cell from another profile, another backbone or another dataset. It computes nothing
new: every number is read from a table a notebook saved.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

__all__ = ["NOT_RUN", "paper_numbers", "find_runs", "runs_table", "table", "findings_table", "run_summary", "coverage",
           "summary_text"]

NOT_RUN = "not run"


@functools.lru_cache(maxsize=1)
def _numbers() -> dict[str, Any]:
    import yaml

    from .profiles import PROFILE_DIR

    return yaml.safe_load((PROFILE_DIR / "presets" / "paper_numbers.yaml").read_text())


def paper_numbers() -> dict[str, Any]:
    """The paper's numbers as data (a fresh copy)."""
    import copy

    return copy.deepcopy(_numbers())


def find_runs(profile: str, stems: Sequence[str]) -> list[dict[str, Any]]:
    """Every saved run of ``stems`` under ``profile`` (its own results first, then tagged runs,
    newest first): ``{"stem", "dir", "tag", "clip", "backbone", "written", "data", "dir_path"}``."""
    from .paths import results_dir

    base = results_dir()
    dirs = [base / profile] + sorted((p for p in base.glob(f"{profile}@*") if p.is_dir()), key=lambda p: p.name)
    out = []
    for d in dirs:
        for stem in stems:
            path = d / f"{stem}.json"
            if not path.is_file():
                continue
            data = json.loads(path.read_text())
            clip = (data.get("setup") or {}).get("clip")
            out.append({"stem": stem, "dir": d.name, "tag": d.name.partition("@")[2], "clip": clip,
                        "backbone": _numbers()["backbones"].get(clip), "written": data.get("_meta", {}).get("written", ""),
                        "data": data, "dir_path": d})
    out.sort(key=lambda r: r["written"], reverse=True)  # newest first ...
    out.sort(key=lambda r: r["tag"] != "")  # ... the profile's own results before tagged runs (a stable sort)
    return out


def runs_table(runs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Which runs the page reads: folder, notebook, CLIP, backbone, datasets, seeds, when written."""
    rows = [{"results": r["dir"], "notebook": r["stem"], "CLIP": r["clip"] or "-", "backbone": r["backbone"] or "-",
             "datasets": ", ".join(map(str, r["data"].get("_meta", {}).get("parameters", {}).get("datasets", []) or [])) or "-",
             "seeds": ", ".join(map(str, r["data"].get("_meta", {}).get("parameters", {}).get("seeds", []) or [])) or "-",
             "tables": ", ".join(sorted(r["data"].get("_tables", {}))) or "none yet", "written": r["written"]} for r in runs]
    return pd.DataFrame(rows, columns=["results", "notebook", "CLIP", "backbone", "datasets", "seeds", "tables", "written"])


def _run_for(runs: Sequence[dict[str, Any]], stem: str, backbone: str | None) -> dict[str, Any] | None:
    return next((r for r in runs if r["stem"] == stem and (backbone is None or r["backbone"] == backbone)), None)


def _saved(run: dict[str, Any], name: str) -> pd.DataFrame | None:
    file = run["data"].get("_tables", {}).get(name)
    path = run["dir_path"] / file if file else None
    return pd.read_csv(path, index_col=0).reset_index() if path is not None and path.is_file() else None


def _value(run: dict[str, Any] | None, spec: dict[str, Any] | None, row: Any, extra: dict[str, Any]) -> tuple[float, float, int] | None:
    """(mean, std over seeds, seeds) of a cell, or None if the run did not measure it."""
    if run is None or spec is None:
        return None
    df = _saved(run, spec["table"])
    if df is None or spec["value"] not in df.columns:
        return None
    where = {k: str(v).replace("{row}", str(row)) for k, v in spec.get("where", {}).items()} | {k: str(v) for k, v in extra.items()}
    mask = np.ones(len(df), bool)
    for col, want in where.items():
        if col not in df.columns:
            return None
        mask &= df[col].astype(str).to_numpy() == want
    hit = df[mask]
    if not len(hit):
        return None
    scale = float(spec.get("scale", 1))
    per_seed = hit.groupby("seed")[spec["value"]].mean() if "seed" in hit.columns else hit[spec["value"]]
    vals = scale * per_seed.to_numpy(float)
    return float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else 0.0, int(len(vals))


def _fmt(v: tuple[float, float, int] | None) -> str:
    if v is None:
        return NOT_RUN
    m, s, n = v
    return f"{m:.2f}" if n == 1 else f"{m:.2f} ± {s:.2f} ({n} seeds)"


def _cells(name: str, runs: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[tuple[Any, str], tuple | None]]:
    t = _numbers()["tables"][name]
    vals = {}
    for row in t["rows"]:
        for col, spec in t["columns"].items():
            run = _run_for(runs, t["stem"], spec.get("backbone"))
            vals[(row, col)] = _value(run, spec.get("ours"), row, t.get("row_where", {}).get(row, {}))
    return t, vals


def table(name: str, runs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Paper table ``name`` with, under each column, the paper's number and ours (or "not run")."""
    t, vals = _cells(name, runs)
    cols = pd.MultiIndex.from_tuples([(c, w) for c in t["columns"] for w in ("paper", "ours")])
    data = []
    for row in t["rows"]:
        paper = t["paper"][row]
        line = []
        for j, col in enumerate(t["columns"]):
            line += ["" if paper[j] is None else f"{paper[j]:.2f}", _fmt(vals[(row, col)])]
        data.append(line)
    index = [str(t["rows"][r]) for r in t["rows"]]
    if t.get("average"):
        line = []
        for j, col in enumerate(t["columns"]):
            ours = [vals[(r, col)] for r in t["rows"]]
            line += [f"{t['average'][j]:.2f}",  # as printed in the paper
                     NOT_RUN if any(v is None for v in ours) else f"{np.mean([v[0] for v in ours]):.2f}"]
        data.append(line)
        index.append("average")
    return pd.DataFrame(data, index=pd.Index(index, name=t["title"]), columns=cols)


def findings_table(runs: Sequence[dict[str, Any]], label: str) -> pd.DataFrame:
    """F1-F13: the paper's claim and evidence beside ours (the section's own results; ``label``
    names the profile the column comes from)."""
    rows = []
    for fid, f in _numbers()["findings"].items():
        run = _run_for(runs, f["stem"], None)
        got = (run or {}).get("data", {}).get("findings", {}).get(fid) if run else None
        if not got or "mean" not in got:
            ours, verdict = NOT_RUN, NOT_RUN
        else:
            ours = f"{got['mean']:+.2f} ± {got['std']:.2f} {got.get('unit', '')} ({got.get('n_seeds', '?')} seeds)".replace("  ", " ")
            verdict = "yes" if got.get("reproduced") else "no"
        rows.append({"id": fid, "finding": f["claim"], "paper": f["paper"], f"ours ({label})": ours, "reproduced": verdict,
                     "section": f["stem"]})
    return pd.DataFrame(rows).set_index("id")


def run_summary(runs: Sequence[dict[str, Any]], stem: str = "01_zero_shot") -> pd.DataFrame | None:
    """Zero-shot vs the full recipe on every dataset of the first run of ``stem`` (whatever its
    datasets and CLIP: under the mini profile these are the mini datasets, not the paper's)."""
    run = _run_for(runs, stem, None)
    zs, ab = (_saved(run, "zero_shot"), _saved(run, "ablation")) if run else (None, None)
    if zs is None or ab is None:
        return None
    full = ab[ab["variant"] == "LE+CF-SCE"]
    rows = []
    for d in zs["dataset"]:
        v = _value(run, {"table": "ablation", "where": {"dataset": d, "variant": "LE+CF-SCE"}, "value": "test_acc", "scale": 100}, d, {})
        rows.append({"dataset": d, "CLIP": run["clip"], "zero-shot": f"{float(zs.loc[zs['dataset'] == d, 'zero-shot'].iloc[0]):.2f}",
                     "+ synthetic (LE+CF-SCE)": _fmt(v), "seeds": int(full.loc[full["dataset"] == d, "seed"].nunique())})
    return pd.DataFrame(rows).set_index("dataset")


def coverage(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How many paper numbers have a counterpart here, per table and in all (plain data)."""
    per = {}
    for name in _numbers()["tables"]:
        t, vals = _cells(name, runs)
        wanted = [(r, c) for r in t["rows"] for j, c in enumerate(t["columns"]) if t["paper"][r][j] is not None]
        per[name] = {"paper_numbers": len(wanted), "ours": sum(vals[k] is not None for k in wanted)}
    f = findings_table(runs, "-")
    return {"tables": per, "paper_numbers": sum(v["paper_numbers"] for v in per.values()),
            "ours": sum(v["ours"] for v in per.values()), "findings_measured": int((f["reproduced"] != NOT_RUN).sum()),
            "findings_reproduced": int((f["reproduced"] == "yes").sum()), "findings": len(f), "runs": len(runs)}


def summary_text(cov: dict[str, Any], compare: str) -> str:
    """The closing paragraph, written from :func:`coverage` (no number typed by hand)."""
    if cov["runs"] == 0:
        return (f"No run of the `{compare}` profile has saved results here yet, so every number of ours above reads "
                f"\"{NOT_RUN}\". Run the sections (`synthrec run --profile {compare}`) and rebuild this page.")
    return (f"Of the paper's {cov['paper_numbers']} published numbers in these tables, {cov['ours']} have a counterpart "
            f"measured by a `{compare}`-profile run here; the others read \"{NOT_RUN}\". Of the {cov['findings']} findings, "
            f"{cov['findings_measured']} were measured and {cov['findings_reproduced']} reproduced by the paper's rule "
            "(the difference has the paper's sign and exceeds the spread over seeds).")
