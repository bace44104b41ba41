"""Procedural garment drawings: parametric templates for the ten Fashion-MNIST classes.

openclipart and emoji hold only 0-13 pictures per Fashion-MNIST class (pullover and coat none),
far too few to learn the concepts from. As fonts do for digits, a family of parametric shapes
widens them: each template draws one garment type front-on (tops, dresses, trousers, bags) or
side-on (shoes) with random proportions, sleeve lengths, necklines, fills and details (collars,
buttons, zips, cuffs, laces, straps, prints), as an RGBA raster like a rasterised clip-art file.

These images are *designed*, not found: the corpus marks them with ``source="procedural"``
and the stats count them separately from real clip-art.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["GARMENTS", "draw_garment"]

GARMENTS = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
_S = 4  # supersampling factor


def _g(v: float) -> tuple[int, int, int, int]:
    c = int(np.clip(v, 0, 1) * 255)
    return (c, c, c, 255)


def _poly(d: ImageDraw.ImageDraw, pts, fill, side: int) -> None:
    d.polygon([(x * side, y * side) for x, y in pts], fill=fill)


def _line(d: ImageDraw.ImageDraw, pts, fill, width: float, side: int) -> None:
    d.line([(x * side, y * side) for x, y in pts], fill=fill, width=max(1, int(width * side)))


def _top(d, rng, side, sleeve: str, fill: float, kind: str) -> None:
    """A top seen from the front: body, sleeves, neckline and details."""
    sw = rng.uniform(0.26, 0.32)  # half shoulder width
    hw = sw * rng.uniform(0.88, 1.05)  # half hem width
    top, hem = rng.uniform(0.06, 0.12), rng.uniform(0.88, 0.98) if kind != "t-shirt" else rng.uniform(0.8, 0.95)
    if kind == "coat":
        hem = rng.uniform(0.92, 0.99)
        hw = sw * rng.uniform(1.0, 1.2)
    cx = 0.5
    f = _g(fill)
    dark = _g(fill * rng.uniform(0.4, 0.75))
    # sleeves
    if sleeve == "short":
        sl = rng.uniform(0.13, 0.2)
        for sgn in (-1, 1):
            _poly(d, [(cx + sgn * sw, top), (cx + sgn * (sw + sl), top + rng.uniform(0.14, 0.2)),
                      (cx + sgn * (sw + sl * 0.55), top + rng.uniform(0.26, 0.32)), (cx + sgn * (sw - 0.02), top + 0.22)], f, side)
    elif sleeve == "long":
        end = rng.uniform(0.78, 0.95) if kind != "coat" else rng.uniform(0.85, 0.97)
        spread = rng.uniform(0.08, 0.16)
        width = rng.uniform(0.08, 0.12) if kind != "pullover" else rng.uniform(0.1, 0.14)
        for sgn in (-1, 1):
            outer_top = (cx + sgn * sw, top)
            cuff_out = (cx + sgn * (sw + spread + width), end)
            cuff_in = (cx + sgn * (sw + spread), end)
            armpit = (cx + sgn * (sw - 0.015), top + 0.2)
            _poly(d, [outer_top, (cx + sgn * (sw + 0.05), top + 0.03), cuff_out, cuff_in, armpit], f, side)
            if kind in ("pullover", "coat") and rng.random() < 0.7:  # cuffs
                _line(d, [(cuff_out[0], end - 0.04), (cuff_in[0], end - 0.04)], dark, 0.012, side)
    # body
    _poly(d, [(cx - sw, top), (cx + sw, top), (cx + hw, hem), (cx - hw, hem)], f, side)
    # neckline (cut out)
    nw = rng.uniform(0.07, 0.11)
    if kind in ("t-shirt", "pullover") and rng.random() < 0.3:  # V neck
        _poly(d, [(cx - nw, top - 0.01), (cx + nw, top - 0.01), (cx, top + rng.uniform(0.08, 0.15))], (0, 0, 0, 0), side)
    elif kind != "coat" or rng.random() < 0.5:
        nd = rng.uniform(0.03, 0.07)
        d.ellipse([(cx - nw) * side, (top - nd) * side, (cx + nw) * side, (top + nd) * side], fill=(0, 0, 0, 0))
    if kind in ("pullover", "coat") and rng.random() < 0.6:  # ribbed hem
        _line(d, [(cx - hw, hem - 0.05), (cx + hw, hem - 0.05)], dark, 0.01, side)
    if kind == "shirt":
        # collar and buttons
        for sgn in (-1, 1):
            _poly(d, [(cx, top + 0.06), (cx + sgn * nw * 1.2, top - 0.02), (cx + sgn * nw * 1.5, top + 0.08)], dark, side)
        _line(d, [(cx, top + 0.06), (cx, hem)], dark, 0.008, side)
        for y in np.linspace(top + 0.12, hem - 0.06, rng.integers(4, 7)):
            r = 0.012
            d.ellipse([(cx + 0.02 - r) * side, (y - r) * side, (cx + 0.02 + r) * side, (y + r) * side], fill=dark)
        if rng.random() < 0.5:
            d.rectangle([(cx - sw * 0.75) * side, (top + 0.15) * side, (cx - sw * 0.3) * side, (top + 0.27) * side], outline=dark, width=max(1, side // 80))
    if kind == "coat":
        _line(d, [(cx, top + 0.03), (cx, hem)], dark, rng.uniform(0.006, 0.015), side)
        if rng.random() < 0.5:  # lapels
            for sgn in (-1, 1):
                _line(d, [(cx + sgn * nw, top), (cx, top + 0.25)], dark, 0.01, side)
        if rng.random() < 0.5:  # pockets
            for sgn in (-1, 1):
                _line(d, [(cx + sgn * 0.06, top + 0.55), (cx + sgn * (sw - 0.04), top + 0.55)], dark, 0.01, side)
    if kind in ("t-shirt", "pullover") and rng.random() < 0.35:  # a print or stripes
        if rng.random() < 0.5:
            for y in np.arange(top + 0.1, hem, rng.uniform(0.06, 0.12)):
                _line(d, [(cx - sw, y), (cx + sw, y)], dark, 0.025, side)
        else:
            r = rng.uniform(0.07, 0.14)
            d.rectangle([(cx - r) * side, (0.35 - r / 2) * side, (cx + r) * side, (0.35 + r) * side], fill=dark)


def _dress(d, rng, side, fill: float) -> None:
    f = _g(fill)
    cx, top = 0.5, rng.uniform(0.03, 0.1)
    bw = rng.uniform(0.1, 0.16)  # half bodice width
    waist = rng.uniform(0.3, 0.42)
    ww = bw * rng.uniform(0.75, 0.95)
    hem = rng.uniform(0.9, 0.99)
    hemw = rng.uniform(0.2, 0.45)
    _poly(d, [(cx - bw, top + 0.04), (cx + bw, top + 0.04), (cx + ww, waist), (cx + hemw, hem), (cx - hemw, hem), (cx - ww, waist)], f, side)
    r = rng.random()
    if r < 0.4:  # straps
        for sgn in (-1, 1):
            _line(d, [(cx + sgn * bw * 0.7, top), (cx + sgn * bw * 0.8, top + 0.05)], f, 0.025, side)
    elif r < 0.8:  # short sleeves
        for sgn in (-1, 1):
            _poly(d, [(cx + sgn * bw, top + 0.04), (cx + sgn * (bw + 0.1), top + 0.12), (cx + sgn * (bw + 0.05), top + 0.18), (cx + sgn * bw, top + 0.14)], f, side)
    else:  # long sleeves
        for sgn in (-1, 1):
            _poly(d, [(cx + sgn * bw, top + 0.04), (cx + sgn * (bw + 0.12), top + 0.5), (cx + sgn * (bw + 0.06), top + 0.52), (cx + sgn * (bw - 0.01), top + 0.16)], f, side)
    if rng.random() < 0.4:
        _line(d, [(cx - ww, waist), (cx + ww, waist)], _g(fill * 0.6), 0.015, side)
    if rng.random() < 0.3:  # pattern dots
        dark = _g(fill * 0.5)
        for _ in range(rng.integers(8, 25)):
            y = rng.uniform(waist + 0.02, hem - 0.03)
            half = ww + (hemw - ww) * (y - waist) / (hem - waist) - 0.03  # the skirt's half width at y
            x = rng.uniform(cx - half, cx + half)
            r = 0.015
            d.ellipse([(x - r) * side, (y - r) * side, (x + r) * side, (y + r) * side], fill=dark)


def _trouser(d, rng, side, fill: float) -> None:
    f = _g(fill)
    cx, top = 0.5, rng.uniform(0.02, 0.06)
    hw = rng.uniform(0.16, 0.24)  # half width at the hip
    crotch = rng.uniform(0.3, 0.4)
    bottom = rng.uniform(0.93, 0.99) if rng.random() > 0.15 else rng.uniform(0.5, 0.6)  # some shorts
    flare = rng.uniform(-0.04, 0.05)
    leg_w = rng.uniform(0.09, 0.14)
    gap = rng.uniform(0.005, 0.03)
    _poly(d, [(cx - hw, top), (cx + hw, top), (cx + hw + 0.01, crotch), (cx - hw - 0.01, crotch)], f, side)
    for sgn in (-1, 1):
        outer_hip = cx + sgn * (hw + 0.01)
        inner = cx + sgn * gap
        outer_bot = cx + sgn * (gap + leg_w * 2 + flare)
        inner_bot = cx + sgn * (gap + 0.01)
        _poly(d, [(outer_hip, crotch - 0.01), (inner, crotch - 0.01), (inner_bot, bottom), (outer_bot, bottom)], f, side)
    dark = _g(fill * rng.uniform(0.45, 0.75))
    _line(d, [(cx - hw, top + 0.05), (cx + hw, top + 0.05)], dark, 0.01, side)
    if rng.random() < 0.5:
        _line(d, [(cx, top + 0.05), (cx, crotch - 0.05)], dark, 0.008, side)


def _shoe(d, rng, side, kind: str, fill: float) -> None:
    """A shoe from the side, toe to the right (flips are added later)."""
    f = _g(fill)
    dark = _g(fill * rng.uniform(0.35, 0.7))
    sole = _g(min(1.0, fill * rng.uniform(1.0, 1.5) + 0.1))
    x0, x1 = 0.02, 0.98
    base = rng.uniform(0.8, 0.9) if kind != "ankle boot" else 0.95
    st = rng.uniform(0.03, 0.07)  # sole thickness
    if kind == "sandal":
        heel = rng.uniform(0.0, 0.25) if rng.random() < 0.5 else 0.0
        y_sole = base - heel * 0.6
        # sole: sloping from heel (left) to toe (right)
        _poly(d, [(x0, y_sole - st), (0.35, y_sole - st), (0.55, base - st), (x1, base - st), (x1, base), (0.55, base), (0.35, y_sole), (x0, y_sole)], sole, side)
        if heel > 0:
            _poly(d, [(x0 + 0.02, y_sole), (x0 + 0.1, y_sole), (x0 + 0.09, base), (x0 + 0.05, base)], sole, side)
        for _ in range(rng.integers(2, 5)):  # straps as arcs
            xa = rng.uniform(0.1, 0.8)
            w = rng.uniform(0.12, 0.3)
            h = rng.uniform(0.12, 0.3)
            yb = base - st if xa > 0.45 else y_sole - st
            d.arc([xa * side, (yb - h) * side, min(x1, xa + w) * side, (yb + h) * side], 180, 360, fill=f, width=max(2, int(rng.uniform(0.02, 0.05) * side)))
        return
    if kind == "sneaker":
        h = rng.uniform(0.3, 0.42)  # upper height at the heel
        top_y = base - st - h
        toe_h = rng.uniform(0.12, 0.2)
        pts = [(x0, base - st), (x1, base - st), (x1 - 0.02, base - st - toe_h * 0.6), (0.78, base - st - toe_h),
               (0.5, top_y + h * 0.35), (0.3, top_y + rng.uniform(0.0, 0.08)), (0.12, top_y), (x0 + 0.02, top_y + 0.04)]
        _poly(d, pts, f, side)
        d.rounded_rectangle([x0 * side, (base - st) * side, x1 * side, base * side], radius=int(st * side / 2), fill=sole)
        for k in range(rng.integers(3, 6)):  # laces
            x = 0.42 + 0.07 * k
            _line(d, [(x, top_y + h * 0.3 + 0.04 * k), (x + 0.05, top_y + h * 0.35 + 0.04 * k)], dark, 0.012, side)
        if rng.random() < 0.6:  # a stripe on the side
            _line(d, [(0.3, base - st - 0.03), (0.55, top_y + h * 0.45)], dark, 0.03, side)
        return
    # ankle boot
    shaft = rng.uniform(0.5, 0.75)
    top_y = base - st - shaft
    heel = rng.uniform(0.0, 0.15)
    back = rng.uniform(0.05, 0.15)
    front = rng.uniform(0.35, 0.5)
    toe_h = rng.uniform(0.14, 0.22)
    pts = [(back, top_y), (front, top_y), (front + 0.04, base - st - toe_h * 1.4), (x1 - 0.05, base - st - toe_h),
           (x1, base - st - toe_h * 0.4), (x1, base - st), (back - 0.02, base - st)]
    _poly(d, pts, f, side)
    _poly(d, [(back - 0.02, base - st), (x1, base - st), (x1, base), (back + 0.15, base), (back + 0.12, base + heel * 0.0)], sole, side)
    if heel > 0.05:
        _poly(d, [(back - 0.02, base - st), (back + 0.14, base - st), (back + 0.13, base), (back, base)], sole, side)
    if rng.random() < 0.5:  # zip or laces
        _line(d, [(front - 0.02, top_y + 0.02), (front + 0.02, base - st - toe_h * 1.2)], dark, 0.012, side)


def _bag(d, rng, side, fill: float) -> None:
    f = _g(fill)
    dark = _g(fill * rng.uniform(0.4, 0.7))
    cx = 0.5
    bw = rng.uniform(0.3, 0.48)  # half width
    top = rng.uniform(0.3, 0.5)
    bot = rng.uniform(0.9, 0.98)
    taper = rng.uniform(-0.05, 0.06)
    _poly(d, [(cx - bw + taper, top), (cx + bw - taper, top), (cx + bw, bot), (cx - bw, bot)], f, side)
    hw = bw * rng.uniform(0.35, 0.8)
    hh = rng.uniform(0.12, top - 0.02)
    d.arc([(cx - hw) * side, (top - hh) * side, (cx + hw) * side, (top + hh) * side], 180, 360, fill=f,
          width=max(2, int(rng.uniform(0.02, 0.045) * side)))
    if rng.random() < 0.5:  # flap
        _poly(d, [(cx - bw + taper, top), (cx + bw - taper, top), (cx + bw * 0.9, top + 0.2), (cx - bw * 0.9, top + 0.2)], dark, side)
    if rng.random() < 0.5:  # clasp
        r = 0.025
        d.rectangle([(cx - r) * side, (top + 0.17) * side, (cx + r) * side, (top + 0.23) * side], fill=_g(min(1, fill + 0.3)))


def draw_garment(concept: str, rng: np.random.Generator, side: int = 112) -> np.ndarray:
    """One random drawing of ``concept`` (a Fashion-MNIST class) as RGBA uint8 ``side x side``."""
    if concept not in GARMENTS:
        raise ValueError(f"no procedural template for {concept!r}; templates: {GARMENTS}")
    big = side * _S
    canvas = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(canvas)
    fill = rng.uniform(0.35, 1.0)
    if concept == "t-shirt":
        _top(d, rng, big, "short", fill, "t-shirt")
    elif concept == "shirt":
        _top(d, rng, big, "long" if rng.random() < 0.75 else "short", fill, "shirt")
    elif concept == "pullover":
        _top(d, rng, big, "long", fill, "pullover")
    elif concept == "coat":
        _top(d, rng, big, "long", fill, "coat")
    elif concept == "dress":
        _dress(d, rng, big, fill)
    elif concept == "trouser":
        _trouser(d, rng, big, fill)
    elif concept == "bag":
        _bag(d, rng, big, fill)
    else:
        _shoe(d, rng, big, concept, fill)
    return np.asarray(canvas.resize((side, side), Image.Resampling.LANCZOS))
