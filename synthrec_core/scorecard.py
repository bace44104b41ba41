"""The book's scorecard page: every section's findings and what each chapter cost, from ``results/``.

Each section notebook writes ``findings`` (the contract of :func:`synthrec_core.stats.finding`)
and ``cost`` (:meth:`synthrec_core.report.Results.finish`) into ``results/<profile>/<stem>.json``;
this module only reads them, so a new section appears on the page without an edit.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from .paths import results_dir

__all__ = ["findings_frame", "findings_view", "verdict_text", "cost_frame"]


def _results(profile: str) -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(results_dir(profile).glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and "_meta" in data:
            out[path.stem] = data
    return out


def findings_frame(profile: str) -> pd.DataFrame:
    """One row per finding of every chapter under ``profile`` (sorted by id)."""
    rows = []
    for stem, data in _results(profile).items():
        for fid, f in (data.get("findings") or {}).items():
            rows.append({"id": fid, "section": f.get("section", stem), "chapter": stem, "claim": f["claim"], "paper": f["paper"],
                         "ours_mean": f["mean"], "ours_std": f["std"], "n_seeds": f["n_seeds"], "ci_low": f["interval"][0],
                         "ci_high": f["interval"][1], "unit": f["unit"], "reproduced": bool(f["reproduced"]),
                         "significant": bool(f["significant"]), "note": f.get("note", "")})
    df = pd.DataFrame(rows, columns=["id", "section", "chapter", "claim", "paper", "ours_mean", "ours_std", "n_seeds", "ci_low",
                                     "ci_high", "unit", "reproduced", "significant", "note"])
    return df.sort_values("id", key=lambda s: s.str[1:].astype(int)).reset_index(drop=True) if len(df) else df


def findings_view(df: pd.DataFrame) -> pd.DataFrame:
    """The table as shown: paper vs ours (mean ± std, seeds), interval, verdicts."""
    return pd.DataFrame({
        "section": df["section"], "finding": df["claim"], "paper": df["paper"],
        "ours": [f"{m:+.2f} ± {s:.2f} {u} ({n} seeds)" for m, s, u, n in zip(df["ours_mean"], df["ours_std"], df["unit"], df["n_seeds"])],
        "95% interval": [f"[{a:+.2f}, {b:+.2f}]" for a, b in zip(df["ci_low"], df["ci_high"])],
        "reproduced": df["reproduced"].map({True: "yes", False: "no"}),
        "significant": df["significant"].map({True: "yes", False: "no"}),
    }).set_index(df["id"].rename("id"))


def verdict_text(df: pd.DataFrame, profile: str) -> str:
    """One paragraph of counts, per section, from the table."""
    if not len(df):
        return f"No findings under the **{profile}** profile yet."
    lines = [f"Under the **{profile}** profile, {int(df['reproduced'].sum())} of {len(df)} measured findings reproduce by the "
             f"paper's rule and {int(df['significant'].sum())} are significant at 95%."]
    for section, g in df.groupby("section", sort=False):
        yes, no = g.loc[g["reproduced"], "id"].tolist(), g.loc[~g["reproduced"], "id"].tolist()
        lines.append(f"- **{section}**: reproduced {', '.join(yes) or 'none'}; not reproduced {', '.join(no) or 'none'}.")
    if profile == "ci":
        lines.append("- These are the CI defaults' tiny runs: they test the code path; their numbers are not results.")
    return "\n".join(lines)


def cost_frame(profile: str) -> pd.DataFrame:
    """Seconds, generated images and generation seconds per chapter, with a total row."""
    rows = []
    for stem, data in _results(profile).items():
        c = data.get("cost")
        if c:
            rows.append({"chapter": stem, "seconds": c["seconds"], "images generated": c["generated_images"],
                         "seconds generating": c["generation_seconds"],
                         "share generating": round(c["generation_seconds"] / c["seconds"], 3) if c["seconds"] else 0.0})
    df = pd.DataFrame(rows, columns=["chapter", "seconds", "images generated", "seconds generating", "share generating"])
    if len(df):
        total = {"chapter": "total", "seconds": df["seconds"].sum(), "images generated": df["images generated"].sum(),
                 "seconds generating": df["seconds generating"].sum()}
        total["share generating"] = round(total["seconds generating"] / total["seconds"], 3) if total["seconds"] else 0.0
        df = pd.concat([df, pd.DataFrame([total])], ignore_index=True)
    return df.set_index("chapter")
