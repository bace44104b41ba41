"""Does MiniGen follow "in low resolution"? Sharpness of digit samples per phrase, beside real
MNIST and scikit-learn digits: the mean absolute Laplacian over lit pixels (lower = blurrier) and
the share of lit pixels (> 25) that are mid-gray (26-199). argv: a checkpoint.pt or "shipped"."""
import sys, numpy as np, torch
torch.set_num_threads(2)
from synthrec_core.mini import evaluate as E
from synthrec_core.mini.train import minigen_from_checkpoint
from synthrec_core.models import load_generator, make_scheduler


def sharpness(x: np.ndarray) -> str:
    x = x.astype(np.float32)
    lap = np.abs(4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1] - x[:, 1:-1, :-2] - x[:, 1:-1, 2:])
    lit = x[:, 1:-1, 1:-1] > 25
    mid = ((x > 25) & (x < 200)).sum() / max(1, (x > 25).sum())
    return f"laplacian {lap[lit].mean():6.1f}  mid-gray share {mid:.2f}  mean pixel {x.mean():5.1f}"


pipe = load_generator("minigen") if sys.argv[1] == "shipped" else minigen_from_checkpoint(sys.argv[1])
pipe.scheduler = make_scheduler("dpm", pipe.scheduler.config)
for name in ("mnist", "digits"):
    print(f"{'real ' + name:36s} {sharpness(E._splits(name, report_on='holdout').test.images[:800])}")
for suffix in ["", " in low resolution", " in very bold strokes", " in very bold strokes in low resolution"]:
    P = [f"a handwritten digit {d}{suffix}" for d in range(10)]
    s = E.generate_class_images(pipe, P, 16, 0, 10, 3.0, batch_size=16, progress=False)
    print(f"{suffix or '(none)':36s} {sharpness(s.reshape(-1, 32, 32))}", flush=True)
