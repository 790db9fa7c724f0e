"""uint8 conversions of images."""

from __future__ import annotations

import numpy as np

from cyclegan_jax import float_to_uint8, uint8_to_float


def test_uint8_round_trip_and_rounding():
    u = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    f = uint8_to_float(u)
    assert float(f.min()) == -1.0 and float(f.max()) == 1.0
    np.testing.assert_array_equal(float_to_uint8(f), u)
    # Rounds to nearest (the official code truncates: 0.999 -> 254).
    assert float_to_uint8(np.float32(0.999)).item() == 255
    assert float_to_uint8(np.float32(1.5)).item() == 255  # clipped
