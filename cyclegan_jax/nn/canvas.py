"""Images of different sizes batched on one canvas, each computed as if it were alone.

eval.py pads the images of a batch at the bottom and right to one canvas shape, so that
a folder of any sizes compiles only a few programs. A `Canvas` holds each image's height
and width; the three layers that would otherwise see the padding use it: reflect
padding at each image's own edges (`reflect_pad`), instance-norm statistics over each
image's pixels only (`moments`), and zeros past each image's edge in front of the
transposed convs, which read one row and column past it (`mask`). Zero-padded stride-2
convs need nothing: their last valid output reads only valid pixels.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from cyclegan_jax.ops.padding import Padding, reflect_index


@flax.struct.dataclass
class Canvas:
    """Each image's height and width ([N, 2] int), at the top left of its canvas row."""

    sizes: jax.Array

    def downsampled(self, factor: int) -> Canvas:
        """The same images after `factor`-fold downsampling (sizes are multiples of it)."""
        return Canvas(self.sizes // factor)

    def mask(self, height: int, width: int) -> jax.Array:
        """[N, H, W, 1] booleans: inside each image's region of an H x W canvas."""
        inside_h = jnp.arange(height)[None, :] < self.sizes[:, 0:1]
        inside_w = jnp.arange(width)[None, :] < self.sizes[:, 1:2]
        return (inside_h[:, :, None] & inside_w[:, None, :])[..., None]

    def reflect_pad(self, x: jax.Array, padding: Padding) -> jax.Array:
        """`torch.nn.ReflectionPad2d` of each image of NHWC `x` at its own bottom and right
        edges instead of the canvas's."""
        def sources(axis: int) -> jax.Array:  # [N, padded length]
            (before, after), size = padding[axis], x.shape[axis + 1]
            positions = jnp.arange(size + before + after)[None, :] - before
            return jnp.clip(reflect_index(positions, self.sizes[:, axis:axis + 1]), 0, size - 1)

        rows, cols = sources(0)[:, :, None, None], sources(1)[:, None, :, None]
        return jnp.take_along_axis(jnp.take_along_axis(x, rows, axis=1), cols, axis=2)

    def moments(self, xf: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Mean and biased variance of float `xf` (NHWC) per image and channel over its region."""
        mask = self.mask(xf.shape[1], xf.shape[2]).astype(xf.dtype)
        count = (self.sizes[:, 0] * self.sizes[:, 1]).astype(xf.dtype)[:, None, None, None]
        mean = jnp.sum(xf * mask, axis=(1, 2), keepdims=True) / count
        var = jnp.sum(jnp.square((xf - mean) * mask), axis=(1, 2), keepdims=True) / count
        return mean, var
