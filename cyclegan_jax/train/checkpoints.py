"""Every Orbax call of the project: saving and restoring the whole train state.

A checkpoint holds the train state's arrays (params of the four networks, both
Adam states, both image pools, the step and the RNG key) and a small JSON record
(the input position and what the run was trained on), in a local folder or a bucket.
Orbax writes each step to a temporary folder and renames it when complete (in a bucket:
marks it complete), so a crash or `kill -9` during a save leaves the older checkpoints
intact; a latest checkpoint that cannot be read is reported and the previous one used.
Saves may be asynchronous: `save` returns once the arrays are copied off the devices
(so the next step may reuse their buffers) and the writing overlaps training.
"""

from __future__ import annotations

import logging
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from cyclegan_jax import files
from cyclegan_jax.config import load_config
from cyclegan_jax.errors import UserError
from cyclegan_jax.train.state import TrainState, create_train_state


@jax.jit
def all_finite(tree: Any) -> jax.Array:
    """True when every float in `tree` is finite (computed on device)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack(leaves))


def _mismatch(saved: Any, target: Any) -> str:
    """Why the arrays a checkpoint holds (`saved`: Orbax's metadata tree) do not fit
    `target` (ShapeDtypeStructs); "" when their names, shapes and dtypes all agree.

    Checked before reading, so a checkpoint of another model size is named as such
    (and Orbax's restore is not left half-started)."""
    def by_name(tree):
        return {jax.tree_util.keystr(path, simple=True, separator="."): leaf
                for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}

    def listed(names):
        return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")

    saved, target = by_name(saved), by_name(target)
    missing, extra = sorted(target.keys() - saved.keys()), sorted(saved.keys() - target.keys())
    if missing or extra:
        return "; ".join(
            ([f"{len(missing)} arrays of this run are not in the checkpoint ({listed(missing)})"]
             if missing else []) +
            ([f"the checkpoint has {len(extra)} arrays this run does not ({listed(extra)})"]
             if extra else []))
    # The params first (the arrays a user knows by name), in name order.
    for name, want in sorted(target.items(), key=lambda i: (not i[0].startswith("params."), i[0])):
        have = saved[name]
        if tuple(have.shape) != tuple(want.shape) or have.dtype != want.dtype:
            return (f"{name} is {have.dtype}{list(have.shape)} in the checkpoint, "
                    f"{want.dtype}{list(want.shape)} in this run")
    return ""


def _arrays_only(state: TrainState) -> dict:
    """`state` as a state dict without what holds no numbers: empty fields (`batch_stats` of
    runs without batch norm, so that such runs' checkpoints keep the layout of those
    written before the field existed) and zero-size arrays (the image pools of pix2pix or
    of pool_size 0, which Orbax cannot save). `_with_template` puts them back."""
    def prune(node):
        if not isinstance(node, dict):
            return node
        kept = {k: prune(v) for k, v in node.items() if getattr(v, "size", 1)}
        return {k: v for k, v in kept.items() if not (isinstance(v, dict) and not v)}

    return prune(flax.serialization.to_state_dict(state))


def _with_template(template: Any, restored: dict) -> dict:
    """`restored` (from `_arrays_only`) completed with what `_arrays_only` left out of
    `template`'s state dict."""
    if not isinstance(template, dict):
        return template if restored is None else restored
    return {k: _with_template(v, restored.get(k)) for k, v in template.items()}


class Checkpoints:
    """The checkpoints of one run in `directory`.

    Read-only unless `writer`: a reader (eval.py, `load_params`, a look at `steps`) may run
    while the run trains, so it creates nothing and leaves alone the temporary folders of
    saves in progress. The writer, the training run itself, first removes those left by
    killed saves, keeps the newest `keep`, and with `async_save` finishes saves in the
    background (`close` waits for them).
    """

    def __init__(self, directory: files.PathLike, keep: int = 3, async_save: bool = False,
                 writer: bool = False):
        self.directory = files.resolve(directory)
        self._async = async_save
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep, create=writer, read_only=not writer,
                enable_async_checkpointing=async_save, cleanup_tmp_directories=writer),
            item_handlers={"state": ocp.StandardCheckpointHandler(),
                           "record": ocp.JsonCheckpointHandler()})

    def steps(self) -> list[int]:
        """Steps of the complete checkpoints, oldest first."""
        self._manager.reload()
        return sorted(self._manager.all_steps())

    def save(self, state: TrainState, record: dict) -> None:
        """Saves `state` at its step with the JSON-serialisable `record` beside it; every
        process calls it."""
        step = int(state.step)
        self._manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_arrays_only(state)),
            record=ocp.args.JsonSave(record)), force=True)
        if not self._async:
            self._manager.wait_until_finished()

    def restore_latest(self, template: TrainState) -> tuple[TrainState, dict] | None:
        """The newest readable checkpoint restored into `template`'s structure and shardings.

        Returns None when there is no checkpoint. Unreadable checkpoints are skipped
        with a warning, falling back to older ones; when none can be read, `UserError`
        (training from scratch would later delete them).
        """
        steps = self.steps()
        if not steps:
            return None
        arrays = _arrays_only(template)
        target = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), arrays)
        problems = []
        for step in reversed(steps):
            try:
                mismatch = _mismatch(self._manager.item_metadata(step)["state"], target)
                if mismatch:
                    raise ValueError(mismatch)
                restored = self._manager.restore(step, args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(target), record=ocp.args.JsonRestore()))
            except Exception as e:  # noqa: BLE001  (any read failure means: try an older one)
                problems.append(f"step {step}: {type(e).__name__}: {e}")
                logging.warning("checkpoint at step %d in %s cannot be read (%s: %s); "
                                "falling back to the previous one", step, self.directory,
                                type(e).__name__, e)
                continue
            state = flax.serialization.from_state_dict(
                template, _with_template(flax.serialization.to_state_dict(template),
                                         restored["state"]))
            return state, dict(restored["record"])
        raise UserError(
            f"none of the checkpoints in {self.directory} (steps {steps}) can be read into "
            f"this run's train state (newest, {problems[0]}). If the model config changed "
            "(ngf, ndf, netG, netD, norm, pool_size, crop_size, channels), run with the config "
            "the checkpoints were written with (saved as config.json beside them); "
            "otherwise the files are damaged. Nothing was overwritten.")

    def close(self) -> None:
        """Waits for a save still being written, then releases the manager."""
        self._manager.wait_until_finished()
        self._manager.close()


def restore_params(workdir: files.PathLike) -> tuple[dict, int]:
    """The networks' variables (`TrainState.network_variables`: CycleGAN's four, pix2pix's
    G and D) of a run's newest checkpoint, and its step."""
    config = load_config(workdir)
    template = jax.eval_shape(lambda: create_train_state(config, 0))
    template = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), template)
    checkpoints = Checkpoints(files.resolve(workdir) / "checkpoints")
    try:
        restored = checkpoints.restore_latest(template)
    finally:
        checkpoints.close()
    if restored is None:
        raise UserError(f"no checkpoint in {checkpoints.directory}: train "
                        "first (train.py) or import an official one (import_torch.py)")
    return restored[0].network_variables(), int(restored[0].step)


def load_params(workdir: files.PathLike) -> dict:
    """The networks' params ({"G_A", "G_B", "D_A", "D_B"}; pix2pix {"G", "D"}) of a run's
    newest checkpoint; with batch norm each is `{"params": ..., "batch_stats": ...}`, as
    `translate` takes it.

    Reads `workdir/config.json` (written by `train_and_evaluate`) to know the shapes.
    """
    return restore_params(workdir)[0]
