"""Reflect padding as torch.nn.ReflectionPad2d, one rule everywhere, and its gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from cyclegan_jax.nn.canvas import Canvas
from cyclegan_jax.ops.padding import pad2d



def test_reflect_pad_matches_reflection_pad2d():
    x = np.arange(2 * 4 * 5 * 1, dtype=np.float32).reshape(2, 4, 5, 1)
    out = np.asarray(pad2d(jnp.asarray(x), ((2, 2), (2, 2)), "reflect"))
    whole = jnp.asarray([[4, 5], [4, 5]])  # a canvas holding just the image: the same padding
    on_canvas = Canvas(whole).reflect_pad(jnp.asarray(x), ((2, 2), (2, 2)))
    np.testing.assert_array_equal(np.asarray(on_canvas), out)
    # ReflectionPad2d does not repeat the edge: row -1 is row 1.
    np.testing.assert_array_equal(out[:, 1, 2:-2, 0], x[:, 1, :, 0])
    np.testing.assert_array_equal(out[:, 0, 2:-2, 0], x[:, 2, :, 0])
    np.testing.assert_array_equal(out[:, 2:-2, 0, 0], x[:, :, 2, 0])


def test_reflect_pad_gradient_folds_borders_back():
    # pad2d gathers; its custom gradient must equal that of jnp.pad's reflect mode.
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((2, 6, 5, 3)).astype(np.float32))
    padding = ((3, 1), (2, 2))
    w = jnp.asarray(rng.standard_normal((2, 10, 9, 3)).astype(np.float32))
    ours = jax.grad(lambda x: jnp.sum(pad2d(x, padding, "reflect") * w))(x)
    ref = jax.grad(lambda x: jnp.sum(jnp.pad(x, ((0, 0),) + padding + ((0, 0),), "reflect") * w))(x)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=1e-6, atol=1e-6)
    assert np.abs(np.asarray(ref)).max() > 1  # not a vacuous comparison of zeros

