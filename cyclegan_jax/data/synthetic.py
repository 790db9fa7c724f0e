"""An embedded apple2orange-like dataset, rendered on the fly from a seed.

Domain A holds "apples": red or green round fruit with a brown stem, a leaf-free
dimple at the top and a specular highlight. Domain B holds "oranges": orange fruit
with a dimpled peel texture, a small navel and a softer highlight. Position, size,
background colour and gradient, and lighting are random per scene. Training scenes
of A and B are drawn independently (unpaired); every test scene is rendered in
both domains, so a translation can be scored against its ground truth.
"""

from __future__ import annotations

import numpy as np

# Test A/B share scenes. The aligned (pix2pix) phases render each scene in both domains;
# their test phase is CycleGAN's paired test split.
_SPLIT_STREAM = {"trainA": 1, "trainB": 2, "testA": 3, "testB": 3, "train": 4, "test": 3,
                 "val": 5}
ALIGNED_PHASES = ("train", "val", "test")
_APPLE_COLOURS = (np.array([0.78, 0.08, 0.10]), np.array([0.45, 0.75, 0.18]))
_ORANGE = np.array([0.98, 0.55, 0.08])


def _scene(seed: int, split: str, index: int) -> dict:
    rng = np.random.default_rng([seed, _SPLIT_STREAM[split], index])
    return {
        "bg_top": rng.uniform(0.25, 0.95, 3),
        "bg_bottom": rng.uniform(0.1, 0.8, 3),
        "cx": rng.uniform(0.35, 0.65), "cy": rng.uniform(0.38, 0.65),
        "r": rng.uniform(0.2, 0.32),
        "light": rng.uniform(-0.6, 0.6, 2),
        "green": bool(rng.random() < 0.35),
        "stem_tilt": rng.uniform(-0.4, 0.4),
        "texture_phase": rng.uniform(0, 2 * np.pi, 3),
    }


def render(seed: int, split: str, index: int, size: int, domain: str | None = None) -> np.ndarray:
    """Scene `index` of `split` as a uint8 `[size, size, 3]` image.

    `domain` ("A" or "B") overrides the split's own domain, which is how the paired
    test ground truth is made: `render(seed, "testA", i, s, domain="B")` is the
    orange that the apple `render(seed, "testA", i, s)` should become. The aligned
    phases ("train", "val", "test") have no domain of their own: give one.
    """
    if split not in _SPLIT_STREAM:
        raise ValueError(f"synthetic splits are {sorted(_SPLIT_STREAM)}, got {split!r}")
    domain = domain or split[-1]
    if domain not in ("A", "B"):
        raise ValueError(f"split {split!r} needs domain='A' or 'B'")
    s = _scene(seed, split, index)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    t = yy[..., None]
    image = s["bg_top"] * (1 - t) + s["bg_bottom"] * t
    dx, dy = (xx - s["cx"]) / s["r"], (yy - s["cy"]) / s["r"]
    if domain == "A":
        # An apple is a little wider than tall, with a dimple at the top centre.
        dist = np.sqrt((dx / 1.06) ** 2 + dy ** 2) + 0.18 * np.exp(-(dx ** 2) * 30) * (dy < 0)
        base = _APPLE_COLOURS[1 if s["green"] else 0]
        texture = 0.04 * np.sin(12 * dx + s["texture_phase"][0])[..., None]
    else:
        dist = np.sqrt(dx ** 2 + dy ** 2)
        base = _ORANGE
        bumps = (np.sin(41 * dx + s["texture_phase"][0]) * np.sin(37 * dy + s["texture_phase"][1])
                 + np.sin(29 * (dx + dy) + s["texture_phase"][2]))
        texture = 0.06 * bumps[..., None]
    nz = np.sqrt(np.clip(1 - dist ** 2, 0, 1))
    shade = np.clip(0.55 + 0.45 * (nz - 0.5 * (dx * s["light"][0] + dy * s["light"][1])), 0.2, 1.1)
    fruit = base * shade[..., None] + texture
    hx, hy = dx + 0.35 + 0.2 * s["light"][0], dy + 0.4 + 0.2 * s["light"][1]
    spot = np.exp(-(hx ** 2 + hy ** 2) * (18 if domain == "A" else 9))[..., None]
    fruit = fruit + (0.8 if domain == "A" else 0.35) * spot * (1 - fruit)
    if domain == "B":  # the navel: a small darker ring below the top
        navel = np.exp(-((dx * 0.8) ** 2 + (dy + 0.62) ** 2) * 120)[..., None]
        fruit = fruit * (1 - 0.45 * navel)
    edge = np.clip((1.0 - dist) * s["r"] * size / 1.5, 0, 1)[..., None]  # anti-aliased rim
    image = image * (1 - edge) + fruit * edge
    if domain == "A":  # the stem, a short tilted brown bar above the dimple
        sx = dx - s["stem_tilt"] * (dy + 0.95)
        stem = (np.abs(sx) < 0.07) & (dy > -1.3) & (dy < -0.8)
        image[stem] = np.array([0.35, 0.2, 0.08])
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


class SyntheticSource:
    """Random-access source of one synthetic split: `len()` images, `load(i)` -> uint8 HWC."""

    def __init__(self, seed: int, split: str, count: int, size: int):
        self.seed, self.split, self.count, self.size = seed, split, count, size
        self.name = f"synthetic/{split}"

    def __len__(self) -> int:
        return self.count

    def load(self, index: int) -> np.ndarray:
        return render(self.seed, self.split, index, self.size)

    def ground_truth(self, index: int) -> np.ndarray:
        """The same test scene rendered in the other domain (test splits only)."""
        if not self.split.startswith("test"):
            raise ValueError("ground truth exists only for the synthetic test splits")
        return render(self.seed, self.split, index, self.size,
                      domain="B" if self.split == "testA" else "A")


class SyntheticAlignedSource:
    """The aligned (pix2pix) form of the synthetic data: phase "train", "val" or "test",
    each scene's apple and orange side by side, `load(i)` -> uint8 `[size, 2 size, 3]`."""

    def __init__(self, seed: int, phase: str, count: int, size: int):
        if phase not in ALIGNED_PHASES:
            raise ValueError(f"aligned phases are {ALIGNED_PHASES}, got {phase!r}")
        self.seed, self.phase, self.count, self.size = seed, phase, count, size
        self.name = f"synthetic/{phase}"

    def __len__(self) -> int:
        return self.count

    def load(self, index: int) -> np.ndarray:
        return np.concatenate([render(self.seed, self.phase, index, self.size, domain=d)
                               for d in ("A", "B")], axis=1)
