"""The official ImagePool (`util/image_pool.py`) as pure, jittable state.

The pool keeps up to `pool_size` generated images. Images of a batch are handled
one at a time, in order: while the pool is filling, each image is stored and
returned; once full, with probability 0.5 a uniformly chosen stored image is
returned and the new image takes its slot, otherwise the new image is returned.
Randomness comes from a `jax.random` key, so a run is reproducible and the pool
can live in the (checkpointed) train state.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class ImagePool:
    """Pool contents: `images [pool_size, H, W, C]` (float32) and how many are stored."""

    images: jax.Array
    num_images: jax.Array  # int32 scalar

    @property
    def pool_size(self) -> int:
        return self.images.shape[0]


def create_pool(pool_size: int, image_shape: tuple[int, int, int]) -> ImagePool:
    """An empty pool for images of shape `(H, W, C)`; `pool_size=0` makes `query` the identity."""
    if pool_size < 0:
        raise ValueError(f"pool_size must be >= 0, got {pool_size}")
    return ImagePool(images=jnp.zeros((pool_size, *image_shape), jnp.float32),
                     num_images=jnp.zeros((), jnp.int32))


def query(pool: ImagePool, images: jax.Array, key: jax.Array) -> tuple[ImagePool, jax.Array]:
    """Pushes a batch `[N, H, W, C]` through the pool; returns (new pool, images to use).

    The returned images are what the discriminator sees as fakes. They carry no
    gradient (the official pool detaches them).
    """
    images = jax.lax.stop_gradient(images)
    if pool.pool_size == 0:
        return pool, images
    keys = jax.random.split(key, images.shape[0])

    def one(pool: ImagePool, inputs):
        image, k = inputs
        k_swap, k_slot = jax.random.split(k)
        image32 = image.astype(jnp.float32)
        filling = pool.num_images < pool.pool_size
        swap = jnp.logical_and(~filling, jax.random.uniform(k_swap) > 0.5)
        slot = jnp.where(filling, pool.num_images,
                         jax.random.randint(k_slot, (), 0, pool.pool_size))
        old = pool.images[slot]
        write = jnp.logical_or(filling, swap)
        stored = jnp.where(write, image32, old)
        new_pool = ImagePool(images=pool.images.at[slot].set(stored),
                             num_images=pool.num_images + filling.astype(jnp.int32))
        returned = jnp.where(swap, old.astype(image.dtype), image)
        return new_pool, returned

    return jax.lax.scan(one, pool, (images, keys))
