"""The ``synthrec`` command line: run notebooks, build the book, inspect the environment.

    synthrec run [NOTEBOOK ...] --profile mini|paper|ci [-p NAME VALUE ...]
    synthrec book [--profile mini]
    synthrec params NOTEBOOK          # list a notebook's parameters and profile values
    synthrec generate --job JOB.json  # a synthetic set; `torchrun --nproc_per_node N -m synthrec_core.cli generate ...`
    synthrec doctor --profile paper   # every model, dataset, package, kernel and GPU the profile needs; how to get what is missing
    synthrec cost 01_zero_shot --profile paper [--write-jobs DIR]   # images and GPU-hours before a cluster run
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import yaml

from .config import ConfigError


def _parse_value(text: str):
    """Parse a ``-p`` value as YAML (numbers, booleans, lists) falling back to the raw string."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _cmd_run(args: argparse.Namespace) -> int:
    from .runner import find_notebooks, run_notebook, validate_parameters, profile_parameters

    overrides = {name: _parse_value(value) for name, value in (args.param or [])}
    notebooks = find_notebooks(args.notebooks)
    if not notebooks:
        raise ConfigError("no notebooks found in notebooks/")
    # validate everything before running anything: a typo must not cost a half-hour run
    for nb in notebooks:
        validate_parameters(nb, {**profile_parameters(nb, args.profile), **overrides})
    for nb in notebooks:
        run_notebook(nb, args.profile, overrides, progress=not args.quiet)
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    from .book import build_book

    index = build_book(args.profile, strict=not args.no_strict)
    print(f"Open the book: file://{index}")
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    from .runner import PROFILES, find_notebooks, notebook_defaults, profile_parameters

    for nb in find_notebooks(args.notebooks):
        print(f"# {nb.name}")
        rows = {"defaults (ci)": notebook_defaults(nb)}
        for p in PROFILES[1:]:
            rows[p] = profile_parameters(nb, p)
        print(yaml.safe_dump(rows, sort_keys=False))
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    """One synthetic set from a job file; every rank of a ``torchrun`` launch runs this too."""
    import time

    import torch

    from .generation import GenerationJob, _dist, generate

    job = GenerationJob.from_json(args.job)
    overrides = {"batch_size": args.batch_size, "workers": args.workers, "device": args.device, "output_dir": args.output_dir}
    job = job.replace(**{k: v for k, v in overrides.items() if v is not None})
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.time()
    s = generate(job, progress=not args.no_progress)
    rank, _, dist = _dist()
    if rank == 0:
        print(f"set {s.key} complete at {s.root} ({len(job)} images, {time.time() - t0:.1f} s)", file=sys.stderr)
    if dist is not None:
        dist.destroy_process_group()
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    """Report what the profile needs (offline, never the network); 1 if anything is missing."""
    from .doctor import main as doctor_main

    return doctor_main(args.profile, hub_cache=args.hub_cache, data_root=args.data_root)


def _cmd_cost(args: argparse.Namespace) -> int:
    """Images and published-figure GPU-hours per notebook; optionally the job files of its sets."""
    from .cost import estimate, format_estimate, notebook_parameters, write_jobs

    overrides = {name: _parse_value(value) for name, value in (args.param or [])}
    for name in args.notebooks:
        nb, params = notebook_parameters(name, args.profile, args.config, overrides)
        source = args.config or (f"configs/{args.profile}/{nb.stem}.yaml" if args.profile != "ci" else "the notebook's defaults")
        print(format_estimate(estimate(nb.stem, params), args.profile, source))
        if args.write_jobs:
            paths = write_jobs(nb.stem, params, args.write_jobs, device=args.device)
            print(f"  wrote {len(paths)} job files and jobs.txt to {args.write_jobs} "
                  f"(sbatch --array=0-{max(len(paths) - 1, 0)} scripts/slurm/generate_array.sh {args.write_jobs}/jobs.txt)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synthrec", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute notebooks with papermill under a profile")
    run.add_argument("notebooks", nargs="*", help="notebook stems or paths (default: all in notebooks/)")
    run.add_argument("--profile", default="mini", choices=["ci", "mini", "paper"])
    run.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), help="override a parameter (YAML value)")
    run.add_argument("-q", "--quiet", action="store_true", help="no per-cell progress bar")
    run.set_defaults(func=_cmd_run)

    book = sub.add_parser("book", help="build the HTML book from executed notebooks")
    book.add_argument("--profile", default="mini", choices=["ci", "mini", "paper"])
    book.add_argument("--no-strict", action="store_true", help="do not turn Sphinx warnings into errors")
    book.set_defaults(func=_cmd_book)

    params = sub.add_parser("params", help="show notebook parameters per profile")
    params.add_argument("notebooks", nargs="*")
    params.set_defaults(func=_cmd_params)

    gen = sub.add_parser("generate", help="generate a synthetic set from a job file (works under torchrun)",
                         description="Make (or resume) the set a GenerationJob JSON file describes. Under "
                         "`torchrun --nproc_per_node N -m synthrec_core.cli generate ...` the ranks share the work.")
    gen.add_argument("--job", required=True, help="JSON file with GenerationJob fields (a set's job.json works too)")
    gen.add_argument("--batch-size", type=int, default=None, help="real images per pipeline call (does not change images)")
    gen.add_argument("--workers", type=int, default=None, help="CPU: pipeline copies run side by side (does not change images)")
    gen.add_argument("--device", default=None)
    gen.add_argument("--output-dir", default=None)
    gen.add_argument("--threads", type=int, default=None, help="torch threads outside generation (generation on CPU runs single-threaded per worker)")
    gen.add_argument("--no-progress", action="store_true")
    gen.set_defaults(func=_cmd_generate)

    doctor = sub.add_parser("doctor", help="check the models, datasets, packages, kernel and GPU a profile needs (offline)")
    doctor.add_argument("--profile", default="mini", choices=["mini", "paper"])
    doctor.add_argument("--hub-cache", default=None, help="Hugging Face hub cache folder (default: huggingface_hub's)")
    doctor.add_argument("--data-root", default=None, help="where the paper datasets live (default: cache_dir()/datasets)")
    doctor.set_defaults(func=_cmd_doctor)

    cost = sub.add_parser("cost", help="images and GPU-hours a notebook config generates (before a cluster run)")
    cost.add_argument("notebooks", nargs="+", help="notebook stems or paths")
    cost.add_argument("--profile", default="paper", choices=["ci", "mini", "paper"])
    cost.add_argument("--config", default=None, help="a parameter YAML file instead of configs/<profile>/<stem>.yaml")
    cost.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), help="override a parameter (YAML value)")
    cost.add_argument("--write-jobs", default=None, metavar="DIR", help="write one GenerationJob file per shared set and DIR/jobs.txt")
    cost.add_argument("--device", default="cuda", help="device the jobs (and T5 sampling) run on (default cuda)")
    cost.set_defaults(func=_cmd_cost)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as err:  # noqa: BLE001 - the known user errors print one line; anything else is a bug
        if not _user_error(err):
            raise
        print(f"synthrec: error: {err}", file=sys.stderr)
        return 2


def _user_error(err: BaseException) -> bool:
    """Bad input or a missing model/dataset: reported in one line, not as a traceback. The
    classes are looked up lazily so that a quick command (doctor) does not import the engine."""
    if isinstance(err, ConfigError):
        return True
    mods = sys.modules
    kinds = [getattr(mods.get(m), n, None) for m, n in (("synthrec_core.generation", "GenerationError"),
                                                          ("synthrec_core.models", "ModelUnavailable"),
                                                          ("synthrec_core.sets", "SetMismatchError"),
                                                          ("synthrec_core.data.base", "DatasetUnavailable"))]
    return any(k is not None and isinstance(err, k) for k in kinds)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
