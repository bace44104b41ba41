"""Does MiniGen follow stroke-weight words? Mean stroke width (px) of digit samples per phrase."""
import sys, numpy as np, torch
torch.set_num_threads(2)
from synthrec_core.mini import evaluate as E
from synthrec_core.mini.train import minigen_from_checkpoint
from synthrec_core.mini.corpus_render import stroke_width
from synthrec_core.models import load_generator, make_scheduler
pipe = load_generator("minigen") if sys.argv[1] == "shipped" else minigen_from_checkpoint(sys.argv[1])
pipe.scheduler = make_scheduler("dpm", pipe.scheduler.config)
for suffix in ["", " in thin strokes", " in bold strokes", " in very bold strokes"]:
    P = [f"a handwritten digit {d}{suffix}" for d in range(10)]
    s = E.generate_class_images(pipe, P, 16, 0, 10, 3.0, batch_size=16, progress=False)
    sw = np.mean([stroke_width(i > 127) for i in s.reshape(-1, 32, 32)])
    print(f"{suffix or '(none)':22s} stroke width {sw:.2f} px  mean pixel {s.mean():.1f}", flush=True)
