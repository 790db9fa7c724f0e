"""Hand-written gradients for the linear maps of the conv forms (pads, tilings, permutations)."""

from __future__ import annotations

from typing import Callable

import jax


def linear_vjp(f: jax.custom_vjp, bwd: Callable) -> None:
    """Sets the gradient of the linear `f` (a `jax.custom_vjp`) to `bwd`(its nondiff
    arguments, None, cotangent): the transposed map, which needs nothing saved.

    Written out where XLA:CPU or XLA:GPU ran autodiff's transpose (interior pads, sums of
    padded copies, scatters) far slower than the direct form (docs/performance.md)."""
    f.defvjp(lambda *args: (f(*args), None), bwd)
