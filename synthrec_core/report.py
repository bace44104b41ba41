"""Results and presentation: save the numbers behind tables and figures, style the figures.

Convention: every notebook writes ``results/<profile>/<notebook-stem>.json`` (numbers behind
its tables and figures, plus a ``_meta`` block saying which profile and parameters made them)
and ``results/<profile>/<notebook-stem>__<table>.csv`` for each table. Figures are drawn from
these saved results, and every figure and table carries the profile that produced it.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from pathlib import Path
from typing import Any, Mapping

from .paths import results_dir
from .utils import atomic_write_json, atomic_write_text

__all__ = [
    "PROFILE_NOTES",
    "findings_summary",
    "Results",
    "load_results",
    "read_table",
    "setup_figures",
    "profile_banner",
    "stamp",
]

#: one sentence per profile, shown in banners so a reader always knows what produced a number
PROFILE_NOTES = {
    "ci": "CI defaults: tiny sizes to test the code path; numbers are not results.",
    "mini": "mini profile: offline, on the small MiniCLIP/MiniGen models this project trains from packaged assets.",
    "paper": "paper profile: real hub models (diffusers text-to-image, open_clip CLIP) and the paper's datasets.",
}


class Results:
    """Collects a notebook's numbers and tables and writes them atomically under ``results/``."""

    def __init__(self, profile: str, stem: str, parameters: Mapping[str, Any] | None = None):
        self.profile = profile
        self.stem = stem
        self.dir = results_dir(profile)
        self.path = self.dir / f"{stem}.json"
        self.data: dict[str, Any] = {}
        self.meta = {
            "profile": profile,
            "notebook": stem,
            "parameters": dict(parameters or {}),
            "python": platform.python_version(),
        }
        import time

        self._t0 = time.perf_counter()

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.save()

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def update(self, values: Mapping[str, Any]) -> None:
        self.data.update(values)
        self.save()

    def table(self, name: str, df) -> Path:
        """Save a pandas DataFrame as ``<stem>__<name>.csv`` and record it in the JSON."""
        path = self.dir / f"{self.stem}__{name}.csv"
        atomic_write_text(path, df.to_csv(index=True))
        self.data.setdefault("_tables", {})[name] = path.name
        self.save()
        return path

    def finish(self) -> dict[str, Any]:
        """Record what this run cost (wall seconds since the results were opened, images the
        engine generated in this process and the seconds it spent on them) under ``cost``."""
        import time

        from .generation import STATS

        cost = {"seconds": round(time.perf_counter() - self._t0, 1), "generated_images": int(STATS["images"]),
                "generation_seconds": round(STATS["seconds"], 1), "sets_generated": int(STATS["sets"])}
        self["cost"] = cost
        return cost

    def save(self) -> Path:
        meta = dict(self.meta, written=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        return atomic_write_json(self.path, {**self.data, "_meta": meta})


def load_results(profile: str, stem: str) -> dict[str, Any]:
    """Read ``results/<profile>/<stem>.json``; a clear error if that notebook has not run."""
    path = results_dir(profile) / f"{stem}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `synthrec run {stem} --profile {profile}` first")
    return json.loads(path.read_text())


def read_table(profile: str, stem: str, name: str):
    """Read a table that :meth:`Results.table` saved, as a pandas DataFrame."""
    import pandas as pd

    path = results_dir(profile) / f"{stem}__{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `synthrec run {stem} --profile {profile}` first")
    df = pd.read_csv(path, index_col=0)
    return df


def quiet_libraries() -> None:
    """Keep library chatter out of executed notebooks: transformers/diffusers logs at error level
    and without their progress bars, no tqdm widgets (they need JavaScript from a CDN and render
    blank offline; synthrec's own progress lines print plain text), and open_clip's INFO lines off."""
    import logging
    import os

    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        import tqdm.auto
        import tqdm.std

        class _Quiet(tqdm.std.tqdm):
            def __init__(self, *a, **kw):
                kw["disable"] = True
                super().__init__(*a, **kw)

        tqdm.auto.tqdm = _Quiet
    except ImportError:  # pragma: no cover - tqdm is a dependency
        pass
    for name in ("transformers", "diffusers"):
        try:
            lib = __import__(f"{name}.utils", fromlist=["logging"]).logging
            lib.set_verbosity_error()
            lib.disable_progress_bar()
        except Exception:  # noqa: BLE001 - a missing library has nothing to quiet
            pass
    logging.getLogger().setLevel(logging.ERROR)


def setup_figures() -> None:
    """One figure style for the whole book (seaborn, readable on screen); also :func:`quiet_libraries`."""
    import matplotlib as mpl
    import seaborn as sns

    quiet_libraries()
    import pandas as pd

    pd.set_option("display.max_colwidth", None)  # findings and prompts are read whole
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    mpl.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "figure.autolayout": True, "axes.titleweight": "bold"})


def stamp(fig, profile: str) -> None:
    """Write the profile into the bottom-right corner of a figure."""
    fig.text(0.995, 0.005, f"profile: {profile}", ha="right", va="bottom", fontsize=8, color="0.4")


def profile_banner(profile: str):
    """A Markdown banner naming the profile that produced every number on the page."""
    from IPython.display import Markdown

    note = PROFILE_NOTES.get(profile, profile)
    return Markdown(f"> **Profile: `{profile}`** — {note}")


# ------------------------------------------------------------------------------ numbers in prose and tables
def pct(x: float, digits: int = 1, sign: bool = False) -> str:
    """A fraction as percent (points): ``pct(0.0123, sign=True) == "+1.2"``."""
    return f"{100 * x:{'+' if sign else ''}.{digits}f}"


def pm(mean: float, std: float, digits: int = 2, scale: float = 100.0, sign: bool = True) -> str:
    """``"+1.23 ± 0.45"`` from a fraction's mean and std (scaled to points by default)."""
    return f"{scale * mean:{'+' if sign else ''}.{digits}f} ± {scale * std:.{digits}f}"


def settings_table(cfg: Any, paper: Any = None):
    """A config's fields (nested configs flattened) beside the paper's values."""
    import pandas as pd

    def flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            if isinstance(v, Mapping):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    rows = {"this run": flat(cfg.to_dict())}
    if paper is not None:
        rows["paper"] = flat(paper.to_dict())
    return pd.DataFrame(rows).astype(str)


def zero_shot_table(prepared: Any):
    """One row per dataset: classes, the template chosen on val, val and test accuracy (%)."""
    import pandas as pd

    return pd.DataFrame([{"dataset": p.name, "classes": p.splits.num_classes, "val images": len(p.splits.val),
                          "test images": len(p.splits.test), "template (chosen on val)": p.zero_shot["template"],
                          "val": round(100 * p.zero_shot["val_by_template"][p.zero_shot["template"]], 2),
                          "zero-shot": round(100 * p.zero_shot["test_acc"], 2)} for p in prepared]).set_index("dataset")


def gain_table(df: Any, by: str, value: str = "gain"):
    """Mean ± std over seeds of ``value`` (default the gain over zero-shot; points), dataset x ``by``.
    A ``value`` other than ``"gain"`` (e.g. ``"test_acc"``) is shown without a sign."""
    g = df.groupby(["dataset", by])[value]
    return (g.mean().combine(g.std(ddof=1).fillna(0.0), lambda m, s: pm(m, s, sign=value == "gain"))).unstack(by)


def audit_table(audits: Mapping[str, Any]):
    """The contamination audit per dataset: images compared and the shares flagged."""
    import pandas as pd

    return pd.DataFrame([{"dataset": n, "synthetic images": a["n_synthetic"], "real test images": a["n_test"],
                          f"cosine > {a['threshold']}": f"{100 * a['share_above_threshold']:.2f}%",
                          "calibrated threshold": None if a.get("calibrated_threshold") is None else round(a["calibrated_threshold"], 4),
                          "above calibrated": None if a.get("share_above_calibrated") is None else f"{100 * a['share_above_calibrated']:.2f}%",
                          "identical pixel hash": f"{100 * a['share_hash_match']:.2f}%",
                          "closest cosine": round(max((c["cosine"] for c in a["closest"]), default=float("nan")), 4)}
                         for n, a in audits.items()]).set_index("dataset")


def findings_table(findings: Mapping[str, Any]):
    """The findings contract as a table: the paper's evidence, ours (mean ± std), interval, verdicts."""
    import pandas as pd

    rows = []
    for fid, f in findings.items():
        rows.append({"id": fid, "finding": f["claim"], "paper": f["paper"],
                     "ours": f"{f['mean']:+.2f} ± {f['std']:.2f} {f['unit']} ({f['n_seeds']} seeds)",
                     "95% interval": f"[{f['interval'][0]:+.2f}, {f['interval'][1]:+.2f}]",
                     "reproduced": "yes" if f["reproduced"] else "no", "significant": "yes" if f["significant"] else "no"})
    return pd.DataFrame(rows).set_index("id")


def thresholds_table(gates: Mapping[str, Any]):
    """The mini world's gate thresholds (profile data) as a table, one row per dataset."""
    import pandas as pd

    rows = {d: {"gate 1: share judged as prompted": f">= {v:.2f}",
                "gate 1: prompt/seed distance ratio": f">= {gates['gate1_distance_ratio']:.2f}",
                "gate 2: zero-shot": f">= {gates['gate2_min'][d]:.2f}, below the 16-shot probe",
                "gate 3: gain": "> its std over seeds"} for d, v in gates["gate1_min"].items()}
    t = pd.DataFrame(rows).T
    t.index.name = f"dataset (gate 3 must hold on >= {gates['gate3_min_datasets']})"
    return t


def findings_summary(data: Mapping[str, Any], profile: str, section: str) -> str:
    """A section's closing paragraph, written from its saved findings (no typed numbers): how many
    reproduce under ``profile``, then one line per finding with mean ± std, interval and verdict."""
    f = data.get("findings", {})
    yes = [k for k, v in f.items() if v["reproduced"]]
    no = [k for k, v in f.items() if not v["reproduced"]]
    lines = [f"Under the **{profile}** profile, {len(yes)} of the {len(f)} {section} findings measured here reproduce "
             f"by the paper's rule ({', '.join(yes) or 'none'}); {', '.join(no) or 'none'} do not."]
    for k, v in f.items():
        verdict = "reproduced" if v["reproduced"] else "**not reproduced**"
        lines.append(f"- **{k}** ({v['claim']}): {v['mean']:+.2f} ± {v['std']:.2f} {v['unit']} over {v['n_seeds']} seeds, "
                     f"95% interval [{v['interval'][0]:+.2f}, {v['interval'][1]:+.2f}]; paper: {v['paper']}. {verdict}"
                     f"{'' if v['significant'] else ' (interval includes zero)'}. {v.get('note', '')}")
    return "\n".join(lines)
