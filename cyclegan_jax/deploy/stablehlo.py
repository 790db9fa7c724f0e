"""A generator as a serialized `jax.export` artifact (StableHLO with the weights inside)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from cyclegan_jax.deploy.function import Uint8Translator

# Lowered for every platform at once: the artifact runs wherever JAX runs.
PLATFORMS = ("cpu", "cuda", "tpu")


def to_stablehlo(translator: Uint8Translator) -> bytes:
    """`jax.export.export(...).serialize()` of `translator.fn`, batch, height and width
    symbolic. Load and run it with nothing from this project:
    `jax.export.deserialize(data).call(images_uint8)`."""
    exported = jax.export.export(jax.jit(translator.fn), platforms=PLATFORMS)(
        jax.ShapeDtypeStruct(translator.symbolic_shape(), jnp.uint8))
    return bytes(exported.serialize())
