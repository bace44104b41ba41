"""Feature cache: hits when nothing changed, misses when the backbone, weights, preprocessing or data change."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torchvision import transforms as T

from synthrec_core.features import Encoder, data_key, encode_images, features_dir, weights_hash
from synthrec_core.generation import GenerationJob, generate


class TinyEncoder(nn.Module):
    """A conv + pool image encoder counting how often it runs."""

    def __init__(self, seed: int = 0, width: int = 8):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.calls = 0

    def encode_image(self, x):
        self.calls += 1
        return self.conv(x).mean((2, 3))


PRE = T.Compose([T.Resize(16), T.CenterCrop(16), T.ToTensor()])


def images(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)) for _ in range(n)]


@pytest.fixture
def root(tmp_path):
    return tmp_path / "cache"


def run(enc, ims, root, **kw):
    before = enc.model.calls
    f = encode_images(enc, ims, cache_root=root, progress=False, **kw)
    return f, enc.model.calls - before


def test_second_request_is_served_from_cache(root):
    enc = Encoder(TinyEncoder(), PRE, "tiny")
    f1, calls1 = run(enc, images(), root, batch_size=4)
    f2, calls2 = run(enc, images(), root, batch_size=2)  # batch size is not in the key
    assert calls1 == 2 and calls2 == 0
    assert f1.shape == (6, 8) and f1.dtype == np.float32 and np.array_equal(f1, f2)
    assert not list(root.rglob("*.tmp"))


def test_features_do_not_depend_on_batch_size(root):
    enc = Encoder(TinyEncoder(), PRE, "tiny")
    a = encode_images(enc, images(), batch_size=1, cache=False, progress=False)
    b = encode_images(enc, images(), batch_size=6, cache=False, progress=False)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_cache_key_changes_with_backbone(root):
    class OtherEncoder(TinyEncoder):
        pass

    run(Encoder(TinyEncoder(), PRE, "tiny"), images(), root)
    _, calls = run(Encoder(OtherEncoder(), PRE, "tiny"), images(), root)  # same name, same weights, other class
    assert calls > 0
    _, calls = run(Encoder(TinyEncoder(), PRE, "renamed"), images(), root)
    assert calls > 0


def test_cache_key_changes_with_weights(root):
    enc = Encoder(TinyEncoder(seed=0), PRE, "tiny")
    f0, _ = run(enc, images(), root)
    _, calls = run(Encoder(TinyEncoder(seed=1), PRE, "tiny"), images(), root)  # same name, other weights
    assert calls > 0
    with torch.no_grad():  # fine-tune in place: the same object must not reuse its old features
        enc.model.conv.bias.add_(1.0)
    f1, calls = run(enc, images(), root)
    assert calls > 0 and not np.allclose(f0, f1)
    enc.model.load_state_dict(TinyEncoder(seed=0).state_dict())  # back to the first weights: a hit again
    f2, calls = run(enc, images(), root)
    assert calls == 0 and np.array_equal(f0, f2)


def test_cache_key_changes_with_preprocessing(root):
    run(Encoder(TinyEncoder(), PRE, "tiny"), images(), root)
    for pre in (
        T.Compose([T.Resize(12), T.CenterCrop(12), T.ToTensor()]),
        T.Compose([T.Resize(16, interpolation=T.InterpolationMode.NEAREST), T.CenterCrop(16), T.ToTensor()]),
        T.Compose([T.Resize(16), T.CenterCrop(16), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)]),
    ):
        _, calls = run(Encoder(TinyEncoder(), pre, "tiny"), images(), root)
        assert calls > 0, pre


def test_cache_key_changes_with_data(root, tmp_path):
    enc = Encoder(TinyEncoder(), PRE, "tiny")
    ims = images()
    run(enc, ims, root)
    changed = [im.copy() for im in ims]
    changed[3].putpixel((0, 0), (1, 2, 3))
    _, calls = run(enc, changed, root)
    assert calls > 0
    _, calls = run(enc, ims[:5], root)
    assert calls > 0
    # files: same path, new content -> new key
    paths = []
    for i, im in enumerate(ims):
        p = tmp_path / f"{i}.png"
        im.save(p)
        paths.append(p)
    f_old, _ = run(enc, paths, root)
    changed[3].save(paths[3])
    f_new, calls = run(enc, paths, root)
    assert calls > 0 and not np.array_equal(f_old, f_new)
    # arrays
    arr = np.stack([np.asarray(im) for im in ims])
    assert data_key(arr) != data_key(arr[::-1].copy())


def test_synthetic_sets_are_keyed_by_set_and_image_hashes(root, tmp_path):
    from tiny_models import tiny_sd

    pipe = tiny_sd()
    enc = Encoder(TinyEncoder(), PRE, "tiny")
    job = GenerationJob(classnames=("a", "b"), pipeline_id="tiny-sd", images_per_prompt=2, steps=2, output_dir=str(tmp_path / "s1"))
    s1 = generate(job, pipe, progress=False)
    s2 = generate(job.replace(seed=1, output_dir=str(tmp_path / "s2")), pipe, progress=False)
    f1, c1 = run(enc, s1, root)
    _, c_again = run(enc, s1, root)
    _, c2 = run(enc, s2, root)
    assert f1.shape[0] == 4 and c1 > 0 and c_again == 0 and c2 > 0
    np.testing.assert_allclose(f1, encode_images(enc, s1.paths(), cache=False, progress=False), rtol=1e-6)


def test_weights_hash_sees_every_tensor_and_is_stable():
    a, b = TinyEncoder(seed=3), TinyEncoder(seed=3)
    assert weights_hash(a) == weights_hash(b)
    b.register_buffer("running", torch.zeros(2))
    assert weights_hash(a) != weights_hash(b)
    with torch.no_grad():
        b.running[0] = 1.0
    h = weights_hash(b)
    with torch.no_grad():
        b.running[0] = 2.0
    assert weights_hash(b) != h


def test_open_clip_random_weights_through_the_cache(root):
    from tiny_models import tiny_rn

    model, preprocess, _ = tiny_rn()
    enc = Encoder(model, preprocess, "RN50")
    ims = images(2)
    f1 = encode_images(enc, ims, cache_root=root, progress=False)
    assert f1.shape == (2, 32) and np.isfinite(f1).all()
    model.encode_image = None  # any second encode would now fail: the cache must answer
    try:
        f2 = encode_images(enc, ims, cache_root=root, progress=False)
    finally:
        del model.encode_image
    assert np.array_equal(f1, f2)


def test_open_clip_key_hashes_the_image_tower_only():
    from synthrec_core.features import image_tower
    from tiny_models import tiny_rn

    model, preprocess, _ = tiny_rn()
    enc = Encoder(model, preprocess, "RN50")
    assert image_tower(model) is model.visual
    key = enc.key()
    with torch.no_grad():
        model.token_embedding.weight.add_(1.0)  # text tower: image features unchanged, key unchanged
    assert enc.key() == key
    with torch.no_grad():
        next(model.visual.parameters()).add_(1.0)
    assert enc.key() != key


def test_preprocessing_is_keyed_by_what_it_does_not_how_it_prints(root):
    """Two Lambda steps print alike (``Lambda()``) but compute different things; a plain lambda's
    repr holds its address, which must not keep the same function from hitting the cache."""
    import torchvision.transforms as T

    from synthrec_core.features import preprocess_key

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))
    base = T.Compose([T.Resize((8, 8)), T.ToTensor()])
    double = T.Compose([base, T.Lambda(lambda t: t * 2)])
    negate = T.Compose([base, T.Lambda(lambda t: -t)])
    assert repr(double) == repr(negate)
    assert preprocess_key(double) != preprocess_key(negate)
    ims = [im.convert("RGB") for im in images(3)]
    a = encode_images(Encoder(model, double, "m"), ims, cache_root=root, progress=False)
    b = encode_images(Encoder(model, negate, "m"), ims, cache_root=root, progress=False)
    assert not np.allclose(a, b)  # the second encoder was not served the first one's features
    rebuilt = T.Compose([base, T.Lambda(lambda t: t * 2)])  # the same function, another object and address
    assert preprocess_key(rebuilt) == preprocess_key(double)
    n = len(list(features_dir(root).rglob("*.npy")))
    encode_images(Encoder(model, rebuilt, "m"), ims, cache_root=root, progress=False)
    assert len(list(features_dir(root).rglob("*.npy"))) == n  # a cache hit
