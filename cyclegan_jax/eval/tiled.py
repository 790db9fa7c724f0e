"""`translate_tiled`: a ResNet generator on an image of any size in tiles, with the result of
the whole image at once (to float rounding) and device memory bounded by the tile.

Instance norm makes every output pixel depend on statistics of the whole image at each
norm layer, which is why hand-made tiles differ in brightness and show seams. Here each
tile is a `tile` x `tile` window of the image whose central *core* it owns; the cores
partition the image, and each window reaches at least `halo` (the generator's receptive
reach) past its core into the image, so a core's outputs see exactly the pixels they
would see in the whole image. The statistics come from the tiles too, one norm layer at a
time: pass k runs every window with the whole-image statistics of layers < k (already
known) and sums layer k's input over the window's core; those sums, combined over the
cores in float64 (Chan's parallel formula), are layer k's whole-image mean and variance.
With every layer's statistics known, a last pass writes the cores' outputs. That is
(number of norm layers + 1) forward passes per window (24 for resnet_9blocks): memory is
bounded, time is not saved. All windows have one shape, so one program is compiled.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from cyclegan_jax.nn.layers import ConvLayers
from cyclegan_jax.nn.networks import ResnetGenerator, generator_from_params, split_variables
from cyclegan_jax.eval.inference import pad_to
from cyclegan_jax.ops.padding import pad2d


def halo(net: ResnetGenerator) -> int:
    """Pixels past a core that a window must include so the core's outputs are exact: the
    reach of a border artefact, at full resolution: 3 (7x7 conv) + 2 + 4 (the stride-2
    convs) + 8 per residual block (two 3x3 convs at quarter size) + 4 + 2 (the transposed
    convs) + 3 (7x7 conv) <= 8 n_blocks + 24, a multiple of 4."""
    return 8 * net.n_blocks + 24


def _cores(size: int, window: int, reach: int) -> list[tuple[int, int, int]]:
    """(core start, core end, window start) along an axis of `size` pixels: cores that
    partition it, each inside a `window`-long span of the axis at least `reach` away from
    that span's ends except at the axis's own ends."""
    if size <= window:
        return [(0, size, 0)]
    out, start = [], 0
    while True:
        if size - start <= window - reach:  # the last core: its window ends at the axis end
            out.append((start, size, size - window))
            return out
        end = window - reach if start == 0 else start + window - 2 * reach
        out.append((start, end, max(start - reach, 0)))
        start = end


class _TileStatistics:
    """A `Canvas` stand-in for one window: norms normalise by given whole-image statistics
    and record their input's core sums; reflect padding and transposed convs act as on a
    whole array (the window's edges are the image's, or far enough from its core)."""

    def __init__(self, stats: list, core: jax.Array, recorded: list, factor: int = 1):
        self.stats, self.core, self.recorded, self.factor = stats, core, recorded, factor

    def downsampled(self, factor: int) -> _TileStatistics:
        return _TileStatistics(self.stats, self.core, self.recorded, self.factor * factor)

    def reflect_pad(self, x: jax.Array, padding) -> jax.Array:
        return pad2d(x, padding, "reflect")

    def mask(self, height: int, width: int) -> jax.Array:
        return jnp.ones((1, height, width, 1), bool)

    def moments(self, xf: jax.Array) -> tuple[jax.Array, jax.Array]:
        top, bottom, left, right = (self.core[i] // self.factor for i in range(4))
        rows = jnp.arange(xf.shape[1])[:, None]
        cols = jnp.arange(xf.shape[2])[None, :]
        inside = ((rows >= top) & (rows < bottom) & (cols >= left) & (cols < right))
        inside = inside[None, :, :, None].astype(xf.dtype)
        count = jnp.sum(inside)
        mean = jnp.sum(xf * inside, axis=(0, 1, 2)) / count
        m2 = jnp.sum(jnp.square((xf - mean) * inside), axis=(0, 1, 2))
        self.recorded.append((count, mean, m2))
        # None: the core's own statistics (only to learn the layers' shapes)
        known_mean, known_var = ((mean, m2 / count) if self.stats is None
                                 else self.stats[len(self.recorded) - 1])
        return known_mean[None, None, None, :], known_var[None, None, None, :]


@functools.partial(jax.jit, static_argnames=("net",))
def _window(net: ResnetGenerator, params: dict, window: jax.Array, stats: list | None,
            core: jax.Array) -> tuple[jax.Array, list]:
    """The generator on one window with the norms' statistics `stats` (per norm layer, mean
    and variance); returns its output and, per norm layer, (core pixel count, core mean,
    core sum of squared deviations)."""
    recorded: list = []
    out = net.apply({"params": params}, window, canvas=_TileStatistics(stats, core, recorded))
    return out, recorded


@dataclasses.dataclass
class _Moments:
    """Chan's parallel combination of (count, mean, M2) in float64."""

    count: float = 0.0
    mean: np.ndarray | float = 0.0
    m2: np.ndarray | float = 0.0

    def add(self, count, mean, m2) -> None:
        count, mean, m2 = float(count), np.asarray(mean, np.float64), np.asarray(m2, np.float64)
        total = self.count + count
        delta = mean - self.mean
        self.m2 = self.m2 + m2 + np.square(delta) * self.count * count / total
        self.mean = self.mean + delta * count / total
        self.count = total


def translate_tiled(params: dict, image: np.ndarray, tile: int = 512) -> np.ndarray:
    """`translate(params, image[None])[0]` computed in `tile` x `tile` windows.

    Args:
      params: a ResNet generator's params with instance norm (or none); a U-Net's reach
        is the whole image and batch norm's statistics are the batch's, so both are refused.
      image: one HWC image in [-1, 1], any size (padded to multiples of 4 as `translate`
        pads, and cropped back).
      tile: the window side, a multiple of 4 of at least 2 * halo + 4 (196 for
        resnet_9blocks); device memory is that of a `tile` x `tile` image.

    Returns:
      The translated HWC image, NumPy float32, equal to the untiled translation to float
      rounding.
    """
    net = generator_from_params(params, conv=ConvLayers("xla"))
    if not isinstance(net, ResnetGenerator):
        raise ValueError("tiling is for ResNet generators: a U-Net's every output pixel "
                         "depends on the whole image; translate it whole with `translate`")
    if net.norm not in ("instance", "instance_affine", "none"):
        raise ValueError(f"tiling needs per-image norms (instance or none), not {net.norm!r}: "
                         "batch norm normalises by the batch; translate whole images")
    image = np.asarray(image, np.float32)
    if image.ndim != 3:
        raise ValueError(f"translate_tiled takes one HWC image, got shape {image.shape}")
    reach = halo(net)
    if tile % 4 or tile < 2 * reach + 4:
        raise ValueError(f"tile must be a multiple of 4 and at least {2 * reach + 4} for this "
                         f"generator ({net.n_blocks} blocks reach {reach} pixels), got {tile}")
    h, w = image.shape[:2]
    if min(h, w) < 5:
        raise ValueError(f"images must be at least 5 x 5 pixels, got {h} x {w}")
    padded = pad_to(image, h + -h % 4, w + -w % 4)  # as `translate` pads
    H, W = padded.shape[:2]  # noqa: N806
    windows = [(r, c) for r in _cores(H, tile, reach) for c in _cores(W, tile, reach)]
    win_h, win_w = min(tile, H), min(tile, W)

    params = split_variables(params)[0]
    x_shape = jax.ShapeDtypeStruct((1, win_h, win_w, image.shape[2]), jnp.float32)
    core_shape = jax.ShapeDtypeStruct((4,), jnp.int32)

    def run(stats):
        for (r0, r1, rs), (c0, c1, cs) in windows:
            core = jnp.asarray([r0 - rs, r1 - rs, c0 - cs, c1 - cs], jnp.int32)
            x = jnp.asarray(padded[None, rs:rs + win_h, cs:cs + win_w])
            yield (r0, r1, rs), (c0, c1, cs), _window(net, params, x, stats, core)

    # The norm layers and their channels, then their whole-image statistics, layer by layer.
    layers = jax.eval_shape(functools.partial(_window, net), params, x_shape, None,
                            core_shape)[1]
    stats = [(jnp.zeros(mean.shape, jnp.float32), jnp.ones(mean.shape, jnp.float32))
             for _, mean, _ in layers]
    for layer in range(len(stats)):
        combined = _Moments()
        for _, _, (_, recorded) in run(stats):
            combined.add(*jax.device_get(recorded[layer]))
        stats[layer] = (jnp.asarray(combined.mean, jnp.float32),
                        jnp.asarray(combined.m2 / combined.count, jnp.float32))
    out = np.zeros((H, W, net.output_nc), np.float32)
    for (r0, r1, rs), (c0, c1, cs), (y, _) in run(stats):
        out[r0:r1, c0:c1] = np.asarray(y[0, r0 - rs:r1 - rs, c0 - cs:c1 - cs])
    return out[:h, :w]
