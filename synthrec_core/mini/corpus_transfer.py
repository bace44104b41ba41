"""A quick sanity check of the corpus: train a small CNN on corpus images, test on real data.

This measures what a perfect corpus-trained generator could offer downstream (the "upper
bound" probe of issue 3): e.g. digits rendered from fonts tested on real MNIST.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["transfer_check", "corpus_transfer", "small_cnn"]


def small_cnn(num_classes: int):
    """A 3-block CNN for 32x32 grayscale images (~100k parameters)."""
    import torch.nn as nn

    def block(i: int, o: int) -> list:
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(
        *block(1, 32), *block(32, 64), *block(64, 128),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(128, num_classes),
    )


def _to_tensor(images: np.ndarray):
    import torch

    x = torch.from_numpy(np.asarray(images, np.float32) / 255.0)[:, None]
    return (x - 0.13) / 0.31


def fit_small_cnn(model, x, y, epochs: int = 4, batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
                  progress: bool = False) -> float:
    """Train ``model`` in place on normalised images ``x`` [N,1,32,32] and labels ``y``: AdamW,
    one-cycle schedule, label smoothing 0.05, data order from ``seed``. Returns the last
    epoch's on-the-fly training accuracy."""
    import torch
    import torch.nn.functional as F
    from ..progress import progress as _progress

    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    bar = _progress(steps, "small CNN", disable=not progress)
    correct = total = 0
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        correct = total = 0
        for i in range(0, len(x), batch_size):
            idx = perm[i: i + batch_size]
            logits = model(x[idx])
            loss = F.cross_entropy(logits, y[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            correct += int((logits.argmax(1) == y[idx]).sum())
            total += len(idx)
            bar.update(1)
    bar.close()
    return correct / max(total, 1)


def transfer_check(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_sets: dict[str, tuple[np.ndarray, np.ndarray]],
    epochs: int = 4,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    threads: int = 1,
    progress: bool = True,
    return_predictions: bool = False,
) -> dict:
    """Train :func:`small_cnn` on ``train_images`` (uint8 [N,32,32]) and report top-1 accuracy
    on each test set (uint8 [M,32,32], integer labels in the same label space).

    Returns ``{name: accuracy}`` plus ``"train_accuracy"`` (last epoch, on the fly), and
    ``"<name>_pred"`` arrays of predicted labels if ``return_predictions``.
    """
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    y = torch.as_tensor(np.asarray(train_labels), dtype=torch.long)
    x = _to_tensor(train_images)
    n_cls = int(max(int(y.max()), *(int(np.max(t[1])) for t in test_sets.values()))) + 1
    model = small_cnn(n_cls)
    out = {"train_accuracy": fit_small_cnn(model, x, y, epochs, batch_size, lr, seed, progress)}
    model.eval()
    with torch.no_grad():
        for name, (xi, yi) in test_sets.items():
            xt = _to_tensor(xi)
            pred = torch.cat([model(xt[i: i + 512]).argmax(1) for i in range(0, len(xt), 512)])
            out[name] = float((pred.numpy() == np.asarray(yi)).mean())
            if return_predictions:
                out[f"{name}_pred"] = pred.numpy()
    return out


def corpus_transfer(
    corpus,
    datasets: Sequence[str] = ("mnist", "digits"),
    split: str = "test",
    styles: Sequence[str] | None = None,
    max_per_concept: int | None = None,
    epochs: int = 4,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Train on the corpus images whose concept is a class of the first dataset, test on the
    ``split`` of every dataset in ``datasets`` (all must share the label space, e.g. MNIST and
    scikit-learn digits). Corpus concepts equal the datasets' class names.

    Returns ``{"train_images", "per_class_train", "accuracy": {dataset: top-1},
    "per_class_accuracy": {dataset: {class: top-1}}, "chance"}``. Raises if a class has no
    corpus image (the per-class counts say which).
    """
    from ..data import load_dataset

    splits = {name: load_dataset(name, seed=seed) for name in datasets}
    classes = list(next(iter(splits.values()))[split].classnames)
    for name, s in splits.items():
        if list(s[split].classnames) != classes:
            raise ValueError(f"{name} has classes {s[split].classnames}, not {classes}")
    mask = np.isin(corpus.concept, classes)
    if styles is not None:
        mask &= np.isin(corpus.style, list(styles))
    idx = np.nonzero(mask)[0]
    labels = np.array([classes.index(c) for c in corpus.concept[idx]], dtype=np.int64)
    if max_per_concept:
        rng = np.random.default_rng(seed)
        keep = np.concatenate([rng.permutation(np.nonzero(labels == k)[0])[:max_per_concept] for k in range(len(classes))])
        idx, labels = idx[np.sort(keep)], labels[np.sort(keep)]
    counts = np.bincount(labels, minlength=len(classes))
    missing = [c for c, n in zip(classes, counts) if n == 0]
    if missing:
        raise ValueError(f"the corpus has no images of {missing}; per-class counts {dict(zip(classes, counts.tolist()))}")
    tests = {name: (s[split].to_mini().images, s[split].labels) for name, s in splits.items()}
    acc = transfer_check(corpus.images[idx], labels, tests, epochs=epochs, seed=seed, progress=progress,
                         return_predictions=True)
    per_class = {}
    for name, (_, y) in tests.items():
        pred = acc.pop(f"{name}_pred")
        per_class[name] = {c: float((pred[y == k] == k).mean()) for k, c in enumerate(classes)}
    return {
        "train_images": int(len(idx)),
        "per_class_train": dict(zip(classes, counts.tolist())),
        "accuracy": {name: acc[name] for name in tests},
        "train_accuracy": acc["train_accuracy"],
        "per_class_accuracy": per_class,
        "chance": 1.0 / len(classes),
        "epochs": epochs,
        "seed": seed,
        "styles": list(styles) if styles is not None else None,
    }
