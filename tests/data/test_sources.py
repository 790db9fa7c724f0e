"""Image sources: any file mode becomes 8-bit RGB."""

from __future__ import annotations

import numpy as np
from PIL import Image

from cyclegan_jax.data.sources import to_rgb


def test_16_bit_and_palette_images_become_8_bit_rgb():
    rgb = np.random.default_rng(0).integers(0, 255, (8, 8, 3), np.uint8)
    deep = Image.fromarray(np.array([[0, 65535], [32768, 257]], np.uint16))
    np.testing.assert_array_equal(to_rgb(deep)[..., 0], [[0, 255], [128, 1]])
    palette = Image.fromarray(rgb).convert("P")
    assert to_rgb(palette).shape == (8, 8, 3)
