"""Procedural, deterministic action videos with exact ground truth.

An articulated stick figure performs one of :data:`MOTIONS` over one of the
procedural backgrounds in :data:`SCENES`.  The action class is defined only by
*how the figure moves*: clothing colour, figure height, thickness, position,
phase, speed and left/right mirroring are per-video random nuisances drawn from
the seed, identically for every class.  Because the person and the scene are
drawn separately, every frame comes with its exact person mask, its tight box
and the clean background.

Everything is derived from ``seed`` alone through three independent child
streams of ``np.random.SeedSequence(seed)`` (figure, scene, camera), so with
the same seed only the parts that the other arguments change differ: the same
seed rendered in another scene keeps exactly the same figure and motion
nuisances, which makes scene-swap counterfactuals trivial.

Example::

    from hat.sources.render import MOTIONS, SCENES, render_video
    v = render_video(seed=7, motion=MOTIONS.index("walk"), scene=SCENES.index("grass"))
    v.frames.shape, v.masks.shape, v.boxes.shape   # (16, 64, 64, 3), (16, 64, 64), (16, 4)
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

__all__ = ["MOTIONS", "SCENES", "RenderedVideo", "render_video"]

MOTIONS: tuple[str, ...] = (
    "wave",
    "clap",
    "jumping_jacks",
    "squat",
    "walk",
    "punch",
    "kick",
    "jump",
)
SCENES: tuple[str, ...] = ("grass", "water", "tiles", "dunes", "brick", "road", "indoor")


@dataclass(frozen=True)
class RenderedVideo:
    """One rendered clip.

    frames:     uint8 [T, H, W, 3] RGB video.
    masks:      bool  [T, H, W], True wherever the figure has any coverage
                (anti-aliased fringe included); outside it ``frames == background``.
    boxes:      int32 [T, 4] ``x0, y0, x1, y1`` (x1, y1 exclusive) tight box of
                ``masks[t]``; all zeros for an empty mask.
    background: uint8 [T, H, W, 3] the clean background without the figure.
    """

    frames: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray
    background: np.ndarray


# ---------------------------------------------------------------------------
# Skeleton (lengths in units of the nominal standing height: feet to head top)
# ---------------------------------------------------------------------------

_THIGH = 0.24
_SHIN = 0.24
_UPPER_ARM = 0.17
_FOREARM = 0.16
_NECK = 0.30  # hip -> neck along the torso
_SHOULDER = 0.27  # hip -> shoulder (arms' root) along the torso
_HEAD_C = 0.42  # hip -> head centre along the torso
_HEAD_R = 0.12

# joint indices of the pose array [T, 12, 2]
_HIP, _NECK_J, _HEAD, _SH, _EL_A, _HA_A, _EL_B, _HA_B, _KN_A, _FT_A, _KN_B, _FT_B = range(12)

_FAR_SHADE = 0.72  # colour factor of the far (A) limbs
_AA_SLACK = 2.0  # px kept free between the drawn geometry and the 1-px border ring
_SHIFT = 4  # cv2 fixed-point bits: sub-pixel accurate drawing
_ONE = 1 << _SHIFT


def _dir(theta: np.ndarray) -> np.ndarray:
    """Unit vectors for absolute angles measured from straight down, positive
    towards +x (the figure's front); image coordinates (y down)."""
    return np.stack([np.sin(theta), np.cos(theta)], axis=-1)


def _ik(tx: np.ndarray, ty: np.ndarray, l1: float, l2: float, bend: float) -> tuple[np.ndarray, np.ndarray]:
    """Two-link inverse kinematics: target (tx, ty) relative to the root.

    Returns absolute (upper, lower) segment angles.  ``bend`` = +1 puts the
    middle joint on the +angle side of the root->target line, -1 on the other.
    """
    d = np.hypot(tx, ty)
    d = np.clip(d, abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6)
    phi = np.arctan2(tx, ty)
    alpha = np.arccos(np.clip((l1 * l1 + d * d - l2 * l2) / (2 * l1 * d), -1.0, 1.0))
    upper = phi + bend * alpha
    ex = l1 * np.sin(upper)
    ey = l1 * np.cos(upper)
    lower = np.arctan2(tx - ex, ty - ey)
    return upper, lower


@dataclass(frozen=True)
class _MotionSpec:
    fn: Callable[[np.ndarray], dict]
    anchor: str  # "hip", "feet" or "foot_a": which point stays put horizontally
    lift: float = 0.0  # desired vertical excursion (H units) of the lift profile
    lift_min: float = 0.0  # guaranteed minimum
    travel: float = 0.0  # desired horizontal travel per cycle (H units)
    travel_min: float = 0.0  # guaranteed minimum over the clip


def _const(p: np.ndarray, v: float) -> np.ndarray:
    return np.full_like(p, v)


def _standing_legs(p: np.ndarray, spread: float = 0.1) -> dict:
    return {"th_a": _const(p, -spread), "sh_a": _const(p, -spread), "th_b": _const(p, spread), "sh_b": _const(p, spread)}


def _m_wave(p: np.ndarray) -> dict:
    s = np.sin(p)
    out = {
        "lean": _const(p, 0.0),
        "ua_a": _const(p, -0.18),
        "la_a": _const(p, -0.1),
        "ua_b": 2.2 + 0.3 * s,  # upper arm raised up and out
        "la_b": math.pi - 0.05 + 0.8 * s,  # forearm up, swinging side to side
    }
    out.update(_standing_legs(p))
    return out


def _m_clap(p: np.ndarray) -> dict:
    o = np.abs(np.sin(0.5 * p))  # 0 = hands together (sharp contact), 1 = open
    w = 0.015 + 0.3 * o
    ty = 0.11 - 0.03 * o
    ua_b, la_b = _ik(w, ty, _UPPER_ARM, _FOREARM, +1.0)
    ua_a, la_a = _ik(-w, ty, _UPPER_ARM, _FOREARM, -1.0)
    out = {"lean": _const(p, 0.0), "ua_a": ua_a, "la_a": la_a, "ua_b": ua_b, "la_b": la_b}
    out.update(_standing_legs(p))
    return out


def _m_jumping_jacks(p: np.ndarray) -> dict:
    o = 0.5 * (1.0 - np.cos(p))
    ua = 0.2 + 2.5 * o
    la = ua + 0.15 * o
    th = 0.05 + 0.37 * o
    return {
        "lean": _const(p, 0.0),
        "ua_a": -ua, "la_a": -la, "ua_b": ua, "la_b": la,
        "th_a": -th, "sh_a": -th, "th_b": th, "sh_b": th,
        "lift": np.abs(np.sin(p)),
    }


def _m_squat(p: np.ndarray) -> dict:
    d = 0.5 * (1.0 - np.cos(p))
    th = 1.3 * d
    sh = -0.55 * d
    ua = 0.15 + 1.35 * d
    return {
        "lean": 0.45 * d,
        "ua_a": ua + 0.08, "la_a": ua + 0.13, "ua_b": ua, "la_b": ua + 0.05,
        "th_a": th + 0.06, "sh_a": sh - 0.02, "th_b": th, "sh_b": sh,
    }


def _m_walk(p: np.ndarray) -> dict:
    s, c = np.sin(p), np.cos(p)
    th_a = 0.45 * s
    th_b = -0.45 * s
    return {
        "lean": _const(p, 0.07),
        "ua_a": -0.5 * s, "la_a": -0.5 * s + 0.35,
        "ua_b": 0.5 * s, "la_b": 0.5 * s + 0.35,
        "th_a": th_a, "sh_a": th_a - 0.8 * np.maximum(0.0, c),
        "th_b": th_b, "sh_b": th_b - 0.8 * np.maximum(0.0, -c),
    }


def _m_punch(p: np.ndarray) -> dict:
    s = np.sin(p)
    e_a = np.maximum(0.0, s) ** 0.6
    e_b = np.maximum(0.0, -s) ** 0.6
    gx, gy, xx, xy = 0.10, -0.06, 0.32, -0.02  # guard / extended hand, relative to shoulder
    ua_a, la_a = _ik(gx + e_a * (xx - gx), gy + e_a * (xy - gy), _UPPER_ARM, _FOREARM, -1.0)
    ua_b, la_b = _ik(gx + e_b * (xx - gx), gy + e_b * (xy - gy), _UPPER_ARM, _FOREARM, -1.0)
    return {
        "lean": 0.05 + 0.08 * (e_a + e_b),
        "ua_a": ua_a, "la_a": la_a, "ua_b": ua_b, "la_b": la_b,
        "th_a": _const(p, -0.25), "sh_a": _const(p, -0.22),
        "th_b": _const(p, 0.3), "sh_b": _const(p, 0.12),
    }


def _m_kick(p: np.ndarray) -> dict:
    k = np.maximum(0.0, np.sin(p))
    th_b = 1.45 * k
    return {
        "lean": -0.25 * k,
        "ua_a": -0.3 - 0.5 * k, "la_a": -0.3 - 0.7 * k,
        "ua_b": 0.3 + 0.6 * k, "la_b": 0.6 + 0.6 * k,
        "th_a": -0.08 - 0.05 * k, "sh_a": -0.08 - 0.05 * k,
        "th_b": th_b, "sh_b": th_b + 0.15 * k - 1.4 * k * (1.0 - k),
    }


def _m_jump(p: np.ndarray) -> dict:
    u = np.sin(p)
    air = np.maximum(0.0, u)
    crouch = np.maximum(0.0, -u)
    th = 0.9 * crouch + 1.3 * air
    sh = -0.7 * crouch - 0.5 * air
    ua = -0.7 * crouch + 1.9 * air
    return {
        "lean": 0.35 * crouch + 0.05 * air,
        "ua_a": ua - 0.1, "la_a": ua, "ua_b": ua, "la_b": ua + 0.1,
        "th_a": th + 0.06, "sh_a": sh, "th_b": th, "sh_b": sh,
        "lift": air,
    }


_MOTION_SPECS: tuple[_MotionSpec, ...] = (
    _MotionSpec(_m_wave, "hip"),
    _MotionSpec(_m_clap, "hip"),
    _MotionSpec(_m_jumping_jacks, "hip", lift=0.05),
    _MotionSpec(_m_squat, "feet"),
    _MotionSpec(_m_walk, "hip", travel=0.4, travel_min=0.35),
    _MotionSpec(_m_punch, "feet"),
    _MotionSpec(_m_kick, "foot_a"),
    _MotionSpec(_m_jump, "feet", lift=0.3, lift_min=0.2),
)
assert len(_MOTION_SPECS) == len(MOTIONS)


def _pose(spec: _MotionSpec, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions [T, 12, 2] in height units (y down), lowest foot at y=0,
    anchor point at x=0; plus the lift profile [T] in [0, 1]."""
    a = spec.fn(p)
    n = p.shape[0]
    pts = np.zeros((n, 12, 2), dtype=np.float64)
    lean = a["lean"]
    up = np.stack([np.sin(lean), -np.cos(lean)], axis=-1)
    pts[:, _NECK_J] = _NECK * up
    pts[:, _HEAD] = _HEAD_C * up
    pts[:, _SH] = _SHOULDER * up
    pts[:, _EL_A] = pts[:, _SH] + _UPPER_ARM * _dir(a["ua_a"])
    pts[:, _HA_A] = pts[:, _EL_A] + _FOREARM * _dir(a["la_a"])
    pts[:, _EL_B] = pts[:, _SH] + _UPPER_ARM * _dir(a["ua_b"])
    pts[:, _HA_B] = pts[:, _EL_B] + _FOREARM * _dir(a["la_b"])
    pts[:, _KN_A] = _THIGH * _dir(a["th_a"])
    pts[:, _FT_A] = pts[:, _KN_A] + _SHIN * _dir(a["sh_a"])
    pts[:, _KN_B] = _THIGH * _dir(a["th_b"])
    pts[:, _FT_B] = pts[:, _KN_B] + _SHIN * _dir(a["sh_b"])
    ground = np.maximum(pts[:, _FT_A, 1], pts[:, _FT_B, 1])
    if spec.anchor == "feet":
        ax = 0.5 * (pts[:, _FT_A, 0] + pts[:, _FT_B, 0])
    elif spec.anchor == "foot_a":
        ax = pts[:, _FT_A, 0]
    else:
        ax = np.zeros(n)
    pts[..., 0] -= ax[:, None]
    pts[..., 1] -= ground[:, None]
    lift = np.clip(a.get("lift", np.zeros(n)), 0.0, 1.0)
    return pts, lift


# ---------------------------------------------------------------------------
# Scenes: float32 RGB canvases [S, W, 3] (or [T, S, W, 3] when animated)
# ---------------------------------------------------------------------------


def _jit(rng: np.random.Generator, base: tuple[float, float, float], amount: float) -> np.ndarray:
    return np.clip(np.asarray(base, np.float32) + rng.uniform(-amount, amount, 3).astype(np.float32), 0, 255)


def _lerp(c0: np.ndarray, c1: np.ndarray, t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, np.float32)[..., None]
    return c0 * (1.0 - t) + c1 * t


def _grid(S: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised pixel-centre coordinates: v [S,1] in (0,1), u [1,W] in (0, W/S)."""
    v = ((np.arange(S, dtype=np.float32) + 0.5) / S)[:, None]
    u = ((np.arange(W, dtype=np.float32) + 0.5) / S)[None, :]
    return v, u


def _noise(rng: np.random.Generator, S: int, W: int) -> np.ndarray:
    return rng.standard_normal((S, W)).astype(np.float32)


def _scene_grass(rng, S, W, T):
    v, u = _grid(S, W)
    hz = rng.uniform(0.28, 0.5)
    sky_top = _jit(rng, (70, 130, 215), 25)
    sky_bot = _jit(rng, (185, 215, 240), 15)
    green = _jit(rng, (70, 140, 45), 22)
    amp, freq, ph = rng.uniform(0.015, 0.05), rng.uniform(0.8, 2.5), rng.uniform(0, 2 * np.pi)
    line = hz + amp * np.sin(2 * np.pi * freq * u + ph)
    sky = _lerp(sky_top, sky_bot, np.clip(v / hz, 0, 1))
    depth = np.clip((v - line) / (1.0 - hz), 0, 1)
    k = max(2, S // 10)
    streak = cv2.blur(_noise(rng, S, W), (1, k)) * math.sqrt(k)
    far = _lerp(green, sky_bot, np.float32(0.3))
    near = green * np.float32(0.75)
    ground = _lerp(far, near, depth) * (1.0 + 0.13 * streak * (0.4 + depth))[..., None]
    return np.where((v < line)[..., None], sky, ground)


def _scene_water(rng, S, W, T):
    v, u = _grid(S, W)
    deep = _jit(rng, (15, 55, 125), 18)
    light = _jit(rng, (80, 165, 215), 22)
    ly = rng.uniform(0.07, 0.13)
    lx = rng.uniform(0.4, 0.9)
    amp = rng.uniform(0.2, 0.45)
    sign = rng.choice([-1.0, 1.0])
    om1 = sign * rng.uniform(0.25, 0.6)
    om2 = sign * rng.uniform(0.25, 0.6)
    ph1, ph2 = rng.uniform(0, 2 * np.pi, 2)
    two_pi = np.float32(2 * np.pi)
    t = np.arange(T, dtype=np.float32)[:, None, None]
    # wavy horizontal stripes whose wiggle and drift move over time
    wiggle = np.sin(two_pi * u / np.float32(lx) + np.float32(ph1) + np.float32(om1) * t)  # [T, 1, W]
    arg = two_pi * v / np.float32(ly) + np.float32(ph2) + np.float32(om2) * t  # [T, S, 1]
    w = np.sin(arg + np.float32(2 * np.pi * amp) * wiggle)  # [T, S, W]
    w += 1.0
    w *= 0.5
    w = w * np.sqrt(w)
    glint = np.clip((w - 0.9) * 6.0, 0.0, 1.0)
    keep = 1.0 - glint
    shade = 0.8 + 0.25 * (1.0 - v)  # [S, 1]
    out = np.empty((T, S, W, 3), np.float32)
    for c in range(3):  # per channel: much faster than broadcasting a trailing axis of 3
        ch = (deep[c] + (light[c] - deep[c]) * w) * shade
        out[..., c] = ch * keep + np.float32(245.0) * glint
    return out


def _scene_tiles(rng, S, W, T):
    v, u = _grid(S, W)
    ts = rng.uniform(0.11, 0.2)
    c1 = rng.uniform(110, 235, 3).astype(np.float32)
    if rng.random() < 0.5:
        c2 = c1 * np.float32(rng.uniform(0.4, 0.65))
    else:
        c2 = rng.uniform(30, 200, 3).astype(np.float32)
    grout = _jit(rng, (55, 55, 55), 15) if rng.random() < 0.5 else _jit(rng, (215, 215, 210), 15)
    gw = max(1.0 / S, 0.08 * ts) / ts
    ox, oy = rng.uniform(0, ts, 2)
    fx = (u + ox) / ts
    fy = (v + oy) / ts
    ix = np.floor(fx).astype(np.int64)
    iy = np.floor(fy).astype(np.int64)
    shade = rng.uniform(-1, 1, (32, 32)).astype(np.float32)
    checker = ((ix + iy) % 2 == 0)
    tile = np.where(checker[..., None], c1, c2) * (1.0 + 0.07 * shade[iy % 32, ix % 32])[..., None]
    is_grout = ((fx - ix) < gw) | ((fy - iy) < gw)
    return np.where(is_grout[..., None], grout, tile)


def _scene_dunes(rng, S, W, T):
    v, u = _grid(S, W)
    hz = rng.uniform(0.12, 0.32)
    sky = _lerp(_jit(rng, (150, 190, 230), 20), _jit(rng, (235, 225, 205), 15), np.clip(v / hz, 0, 1))
    sand = _jit(rng, (215, 168, 105), 20)
    amp, freq, ph = rng.uniform(0.02, 0.06), rng.uniform(0.6, 1.6), rng.uniform(0, 2 * np.pi)
    line = hz + amp * np.sin(2 * np.pi * freq * u + ph)
    ly = rng.uniform(0.16, 0.28)
    lx = rng.uniform(0.5, 1.1)
    a = rng.uniform(0.25, 0.55) * ly
    ph2, ph3 = rng.uniform(0, 2 * np.pi, 2)
    b = np.sin(2 * np.pi * (v + a * np.sin(2 * np.pi * u / lx + ph2)) / ly + ph3)
    shade = np.where(b > 0, 1.0 + 0.1 * b, 1.0 + 0.28 * b)
    ripple = 0.035 * np.sin(2 * np.pi * (v + 0.3 * a * np.sin(2 * np.pi * u / (0.3 * lx))) / (ly / 7.0))
    depth = np.clip((v - line) / (1.0 - hz), 0, 1)
    ground = sand * ((shade + ripple) * (0.92 + 0.12 * depth))[..., None]
    return np.where((v < line)[..., None], sky, ground)


def _scene_brick(rng, S, W, T):
    v, u = _grid(S, W)
    bh = rng.uniform(0.075, 0.12)
    bw = bh * rng.uniform(1.9, 2.6)
    m = max(1.0 / S, 0.14 * bh)
    brick = _jit(rng, (155, 65, 45), 25)
    mortar = _jit(rng, (195, 190, 180), 15)
    ox, oy = rng.uniform(0, bw), rng.uniform(0, bh)
    fy = (v + oy) / bh
    iy = np.floor(fy).astype(np.int64)
    xs = u + ox + (iy % 2) * (0.5 * bw)
    fx = xs / bw
    ix = np.floor(fx).astype(np.int64)
    shade = rng.uniform(-1, 1, (32, 32)).astype(np.float32)
    col = brick * (1.0 + 0.13 * shade[iy % 32, ix % 32] + 0.04 * _noise(rng, S, W))[..., None]
    is_mortar = ((fy - iy) * bh < m) | ((fx - ix) * bw < m)
    return np.where(is_mortar[..., None], mortar, col)


def _scene_road(rng, S, W, T):
    v, u = _grid(S, W)
    gray = rng.uniform(65, 105)
    asphalt = np.clip(gray + rng.uniform(-5, 5, 3), 0, 255).astype(np.float32)
    col = asphalt * (1.0 + rng.uniform(0.06, 0.12) * _noise(rng, S, W))[..., None]
    sw = rng.uniform(0.08, 0.2)  # sidewalk at the top
    curb = _jit(rng, (185, 180, 170), 15)
    joint = rng.uniform(0.15, 0.3)
    jo = rng.uniform(0, joint)
    side = np.broadcast_to(curb, (S, W, 3)) * np.where(((u + jo) % joint) < max(1.0 / S, 0.015), 0.75, 1.0)[..., None]
    lw = max(1.2 / S, 0.025)
    e0, e1 = sw + 0.05, rng.uniform(0.88, 0.94)
    white = _jit(rng, (235, 235, 230), 10)
    centre = _jit(rng, (230, 190, 40), 15) if rng.random() < 0.5 else white
    dash, gap, do = rng.uniform(0.12, 0.2), rng.uniform(0.1, 0.2), rng.uniform(0, 0.4)
    yc = 0.5 * (e0 + e1)
    is_edge = (np.abs(v - e0) < lw / 2) | (np.abs(v - e1) < lw / 2)
    is_dash = (np.abs(v - yc) < lw / 2) & (((u + do) % (dash + gap)) < dash)
    col = np.where(is_edge[..., None], white, col)
    col = np.where(is_dash[..., None], centre, col)
    return np.where((v < sw)[..., None], side, col)


def _scene_indoor(rng, S, W, T):
    v, u = _grid(S, W)
    wall = rng.uniform(150, 235, 3).astype(np.float32)
    fl = rng.uniform(0.6, 0.78)
    img = np.broadcast_to(wall * (1.05 - 0.2 * np.clip(v / fl, 0, 1))[..., None], (S, W, 3)).copy()
    wood = _jit(rng, (140, 95, 60), 30)
    plank = rng.uniform(0.05, 0.09)
    pr = (v - fl) / plank
    prow = np.floor(pr).astype(np.int64)
    plen = rng.uniform(0.35, 0.6)
    px = (u + (prow % 3) * plen / 3.0) / plen
    shade = rng.uniform(-1, 1, (32, 32)).astype(np.float32)
    floor = wood * (1.0 + 0.1 * shade[prow % 32, np.floor(px).astype(np.int64) % 32] + 0.03 * _noise(rng, S, W))[..., None]
    seam = ((pr - prow) < max(1.0 / S, 0.1 * plank) / plank) | ((px - np.floor(px)) < max(1.0 / S, 0.01) / plen)
    floor = np.where(seam[..., None], floor * 0.7, floor)
    img = np.where((v >= fl)[..., None], floor, img)
    base = wall * 0.55 if rng.random() < 0.5 else np.float32([235, 235, 230])
    img[(v[:, 0] >= fl - 0.03) & (v[:, 0] < fl)] = base

    def box(x0, y0, x1, y1, colour):
        r0, r1 = int(round(y0 * S)), int(round(y1 * S))
        c0, c1 = int(round(x0 * S)), int(round(x1 * S))
        img[max(r0, 0):max(r1, 0), max(c0, 0):max(c1, 0)] = colour

    wn = W / S
    for _ in range(1 + int(rng.random() < 0.4 + 0.3 * (wn - 1.0))):
        if rng.random() < 0.5:  # window
            ww, wh = rng.uniform(0.2, 0.34), rng.uniform(0.18, 0.3)
            x0 = rng.uniform(0.02, max(0.03, wn - ww - 0.02))
            y0 = rng.uniform(0.06, max(0.07, fl - wh - 0.12))
            fr = max(1.0 / S, 0.02)
            box(x0 - fr, y0 - fr, x0 + ww + fr, y0 + wh + fr, _jit(rng, (245, 245, 240), 10))
            box(x0, y0, x0 + ww, y0 + wh, _jit(rng, (150, 200, 240), 20))
            box(x0 + ww / 2 - fr / 2, y0, x0 + ww / 2 + fr / 2, y0 + wh, np.float32([245, 245, 240]))
            box(x0, y0 + wh / 2 - fr / 2, x0 + ww, y0 + wh / 2 + fr / 2, np.float32([245, 245, 240]))
        else:  # door
            dw = rng.uniform(0.17, 0.26)
            top = rng.uniform(0.08, 0.22)
            x0 = rng.uniform(0.02, max(0.03, wn - dw - 0.02))
            door = _jit(rng, (120, 75, 45), 30)
            fr = max(1.0 / S, 0.02)
            box(x0 - fr, top - fr, x0 + dw + fr, fl, door * 0.6)
            box(x0, top, x0 + dw, fl, door)
            kx, ky, kr = x0 + 0.8 * dw, top + 0.55 * (fl - top), max(1.0 / S, 0.015)
            box(kx - kr, ky - kr, kx + kr, ky + kr, np.float32([225, 200, 90]))
    return img


_SCENE_FNS = (_scene_grass, _scene_water, _scene_tiles, _scene_dunes, _scene_brick, _scene_road, _scene_indoor)
assert len(_SCENE_FNS) == len(SCENES)


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def _check_index(name: str, value, n: int) -> int:
    try:
        i = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer in [0, {n - 1}], got {value!r}") from None
    if not 0 <= i < n:
        raise ValueError(f"{name} must be an integer in [0, {n - 1}], got {i}")
    return i


def _background(rng: np.random.Generator, cam_rng: np.random.Generator, scene: int, T: int, S: int,
                camera_motion: float) -> np.ndarray:
    pan = float(camera_motion) * S
    direction = 1.0 if cam_rng.random() < 0.5 else -1.0
    W = S + (int(math.ceil(pan)) + 1 if pan > 0 else 0)
    canvas = np.asarray(_SCENE_FNS[scene](rng, S, W, T), dtype=np.float32)
    animated = canvas.ndim == 4
    if pan > 0:
        r = np.arange(T, dtype=np.float64) / max(T - 1, 1)
        off = pan * (r if direction > 0 else 1.0 - r)
        out = np.empty((T, S, S, 3), np.float32)
        for t in range(T):
            i = int(math.floor(off[t]))
            f = np.float32(off[t] - i)
            src = canvas[t] if animated else canvas
            out[t] = src[:, i:i + S] * (1.0 - f) + src[:, i + 1:i + 1 + S] * f
    else:
        out = canvas
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if out.ndim == 3:
        out = np.broadcast_to(out, (T, S, S, 3)).copy()
    return out


def _boxes(masks: np.ndarray) -> np.ndarray:
    T = masks.shape[0]
    rows = masks.any(axis=2)
    cols = masks.any(axis=1)
    boxes = np.zeros((T, 4), np.int32)
    has = rows.any(axis=1)
    H, W = masks.shape[1], masks.shape[2]
    boxes[:, 0] = np.argmax(cols, axis=1)
    boxes[:, 1] = np.argmax(rows, axis=1)
    boxes[:, 2] = W - np.argmax(cols[:, ::-1], axis=1)
    boxes[:, 3] = H - np.argmax(rows[:, ::-1], axis=1)
    boxes[~has] = 0
    return boxes


def render_video(seed: int, motion: int, scene: int, *, num_frames: int = 16, size: int = 64,
                 camera_motion: float = 0.0) -> RenderedVideo:
    """Render one clip of ``MOTIONS[motion]`` over ``SCENES[scene]``.

    ``seed`` (non-negative int) determines every random choice; identical
    arguments give byte-identical arrays.  ``camera_motion`` >= 0 pans the
    background horizontally by ``camera_motion * size`` pixels over the clip
    (random direction); the figure is unaffected.
    """
    motion = _check_index("motion", motion, len(MOTIONS))
    scene = _check_index("scene", scene, len(SCENES))
    try:
        seed = operator.index(seed)
    except TypeError:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}") from None
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    T = operator.index(num_frames)
    S = operator.index(size)
    if T < 1:
        raise ValueError(f"num_frames must be >= 1, got {T}")
    if S < 24:
        raise ValueError(f"size must be >= 24, got {S}")
    camera_motion = float(camera_motion)
    if not (math.isfinite(camera_motion) and camera_motion >= 0.0):
        raise ValueError(f"camera_motion must be a finite number >= 0, got {camera_motion}")

    fig_ss, bg_ss, cam_ss = np.random.SeedSequence(seed).spawn(3)
    rng = np.random.default_rng(fig_ss)

    # -- per-video nuisances (drawn in a fixed order, independent of motion/scene)
    phase0 = rng.uniform(0.0, 2 * np.pi)
    cycles = rng.uniform(1.0, 2.5)
    h_frac = rng.uniform(0.45, 0.72)
    thick_frac = rng.uniform(0.12, 0.15)
    flip = rng.random() < 0.5
    colour = rng.uniform(15.0, 240.0, 3).astype(np.float32)
    pos_u = rng.uniform(0.0, 1.0, 2)

    spec = _MOTION_SPECS[motion]
    p = phase0 + 2 * np.pi * cycles * np.arange(T, dtype=np.float64) / T
    pts, lift_prof = _pose(spec, p)
    if flip:
        pts[..., 0] = -pts[..., 0]

    # -- extents in height units (joint radius = half thickness, head radius)
    rad = np.full(12, thick_frac / 2.0)
    rad[_HEAD] = _HEAD_R
    rad[_NECK_J] = 0.0
    xmin = float((pts[..., 0] - rad).min())
    xmax = float((pts[..., 0] + rad).max())
    ymin = float((pts[..., 1] - rad).min())
    ymax = float((pts[..., 1] + rad).max())
    span_x, span_y = xmax - xmin, ymax - ymin

    lo = 1.0 + _AA_SLACK  # usable interval of pixel-centre coordinates for the geometry
    hi = S - 2.0 - _AA_SLACK
    usable = hi - lo - 1.0  # 1 px reserve for thickness rounding
    travel_des = spec.travel * cycles
    h_px = h_frac * S
    h_px = min(h_px, usable / (span_x + spec.travel_min), usable / (span_y + spec.lift_min))
    travel_px = min(travel_des * h_px, usable - span_x * h_px)
    lift_px = min(spec.lift * h_px, usable - span_y * h_px)
    travel_px = max(travel_px, 0.0)
    lift_px = max(lift_px, 0.0)
    thick = max(2, int(round(thick_frac * h_px)))

    slack_x = max(usable - span_x * h_px - travel_px, 0.0)
    slack_y = max(usable - span_y * h_px - lift_px, 0.0)
    x_shift = lo + 0.5 - xmin * h_px + pos_u[0] * slack_x
    y_shift = lo + 0.5 + lift_px - ymin * h_px + pos_u[1] * slack_y

    r = np.arange(T, dtype=np.float64) / max(T - 1, 1)
    facing_right = not flip
    dx = travel_px * (r if facing_right else 1.0 - r)
    dy = -lift_px * lift_prof
    px = pts * h_px
    px[..., 0] += x_shift + dx[:, None]
    px[..., 1] += y_shift + dy[:, None]
    ipx = np.rint(px * _ONE).astype(np.int32)
    head_r = int(round(_HEAD_R * h_px * _ONE))

    # -- alpha canvases: far limbs (shaded) and near body
    far = np.zeros((T, S, S), np.uint8)
    near = np.zeros((T, S, S), np.uint8)
    aa = cv2.LINE_AA
    for t in range(T):
        q = ipx[t]
        cv2.polylines(far[t], [q[[_SH, _EL_A, _HA_A]], q[[_HIP, _KN_A, _FT_A]]], False, 255, thick, aa, _SHIFT)
        cv2.polylines(near[t], [q[[_HIP, _NECK_J]], q[[_SH, _EL_B, _HA_B]], q[[_HIP, _KN_B, _FT_B]]],
                      False, 255, thick, aa, _SHIFT)
        cv2.circle(near[t], (int(q[_HEAD, 0]), int(q[_HEAD, 1])), head_r, 255, -1, aa, _SHIFT)

    background = _background(np.random.default_rng(bg_ss), np.random.default_rng(cam_ss), scene, T, S,
                             camera_motion)
    # composite only where the figure has coverage; elsewhere frames == background exactly
    masks = (far > 0) | (near > 0)
    a_far = far[masks].astype(np.float32)[:, None] * np.float32(1.0 / 255.0)
    a_near = near[masks].astype(np.float32)[:, None] * np.float32(1.0 / 255.0)
    out = background[masks].astype(np.float32)
    out = out * (1.0 - a_far) + (colour * np.float32(_FAR_SHADE)) * a_far
    out = out * (1.0 - a_near) + colour * a_near
    frames = background.copy()
    frames[masks] = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return RenderedVideo(frames=frames, masks=masks, boxes=_boxes(masks), background=background)
