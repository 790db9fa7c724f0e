"""Which generator to export: the one of a run for a direction, or one file."""

from __future__ import annotations

from cyclegan_jax import files
from cyclegan_jax.config import load_config
from cyclegan_jax.errors import UserError
from cyclegan_jax.train.checkpoints import restore_params

DIRECTIONS = ("AtoB", "BtoA")


def run_generator(workdir: files.PathLike, direction: str = "AtoB") -> dict:
    """The variables of the generator of `workdir`'s newest checkpoint that translates
    `direction`: CycleGAN's G_A (AtoB) or G_B (BtoA); pix2pix's G, which translates only
    the direction it was trained for."""
    if direction not in DIRECTIONS:
        raise UserError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    config = load_config(workdir)
    params, _ = restore_params(workdir)
    if config.model == "pix2pix":
        if direction != config.direction:
            raise UserError(
                f"{files.resolve(workdir)} is a pix2pix run trained {config.direction}: it has "
                f"no generator for {direction}; pass --direction={config.direction}")
        return params["G"]
    return params["G_A" if direction == "AtoB" else "G_B"]
