"""`train_and_evaluate`: the training program behind `train.py`, for CycleGAN and pix2pix
(`config.model`; what differs between them is in `train.models`).

It opens the dataset, builds (or resumes) the train state on a `data` mesh of all
devices, and runs the jitted step with a progress bar, logs, sample grids, TensorBoard
and checkpoints. Re-running it on the same workdir (a folder or a bucket) resumes exactly
where the last checkpoint left off (params, Adam, pools, RNG and input position), so an
interrupted run ends bit-identical to an uninterrupted one. With several processes
(`jax.distributed`) every process runs it: checkpoints are collective, and only process
0 writes the run's own files (config, metrics, samples).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import jax
import ml_collections
import numpy as np
from jax.experimental import multihost_utils

from cyclegan_jax import files
from cyclegan_jax.compilation_cache import use_compilation_cache
from cyclegan_jax.config import has_config, load_config, save_config, upgrade
from cyclegan_jax.data.preprocess import check_sizes
from cyclegan_jax.errors import UserError
from cyclegan_jax.images import save_png
from cyclegan_jax.train import sharding
from cyclegan_jax.train.checkpoints import Checkpoints, all_finite
from cyclegan_jax.train.hparams import HParams
from cyclegan_jax.train.metrics import MetricWriter
from cyclegan_jax.train.models import model_of
from cyclegan_jax.train.preemption import StopRequest
from cyclegan_jax.train.progress import FinishedSteps
from cyclegan_jax.train.state import TrainState, create_train_state

# Fields that may change between a run and its resumption without changing its result.
_RESUME_NEUTRAL = ("log_every", "sample_every", "checkpoint_every", "keep_checkpoints",
                   "num_sample_images", "num_train_steps", "compilation_cache_dir",
                   "async_checkpoints")


class NonFiniteError(UserError):
    """Losses or params became NaN/inf; the last good checkpoint is kept."""


def total_steps(config: Any) -> int:
    """Steps of the whole schedule: epochs epoch_count .. n_epochs + n_epochs_decay."""
    if config.num_train_steps > 0:
        return config.num_train_steps
    epochs = config.n_epochs + config.n_epochs_decay - config.epoch_count + 1
    return max(epochs, 0) * config.steps_per_epoch


def _prepare_workdir(workdir: files.PathLike) -> None:
    """Process 0 makes sure the workdir is writable; every process gets its verdict."""
    sharding.check_same_on_all_processes("--workdir", str(files.resolve(workdir)))
    error = None
    if jax.process_index() == 0:
        try:
            files.check_writable_dir(workdir)
        except UserError as e:
            error = e
    if jax.process_count() > 1:
        failed = bool(multihost_utils.broadcast_one_to_all(np.asarray(error is not None)))
        if failed and error is None:
            raise UserError(f"process 0 cannot write to the workdir {files.resolve(workdir)}: "
                            "its log says why")
    if error is not None:
        raise error


def _check_resumed_config(workdir: files.PathLike, config: Any) -> None:
    if not has_config(workdir):
        return
    saved = load_config(workdir).to_dict()
    current = json.loads(config.to_json())
    changed = sorted(k for k in set(saved) | set(current)
                     if saved.get(k) != current.get(k) and k not in _RESUME_NEUTRAL)
    if changed:
        logging.warning("resuming with a changed config: %s", ", ".join(
            f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed))


class _Run:
    """The state of one `train_and_evaluate` call that the loop's helpers share."""

    def __init__(self, config: Any, workdir: files.PathLike, data_record: dict):
        self.config, self.data_record = config, data_record
        self.model = model_of(config)
        self.generators = HParams.from_config(config).network_names[0]
        self.workdir = files.resolve(workdir)
        self.is_main = jax.process_index() == 0
        self.writer = MetricWriter(self.workdir, enabled=self.is_main)
        self.checkpoints = Checkpoints(self.workdir / "checkpoints", config.keep_checkpoints,
                                       config.async_checkpoints, writer=True)
        self.last_saved_step = -1

    def close(self) -> None:
        self.writer.close()
        self.checkpoints.close()

    def save(self, state: TrainState) -> None:
        step = int(state.step)
        if step == self.last_saved_step:
            return
        if not bool(all_finite(state.params)):
            raise NonFiniteError(
                f"params became NaN/inf by step {step}; not saving them. The last good "
                f"checkpoint (step {self.last_saved_step}) is kept in {self.checkpoints.directory}. "
                "Try a lower --config.lr, or check the input images.")
        self.checkpoints.save(state, {"data": self.data_record, "step": step})
        self.writer.flush()
        self.last_saved_step = step

    def log_metrics(self, step: int, window: list[dict], seconds_per_image: float) -> dict:
        means = {k: float(np.mean([float(m[k]) for m in window]))
                 for k in self.model.metric_names}
        if not all(np.isfinite(v) for v in means.values()):
            raise NonFiniteError(
                f"losses became NaN/inf by step {step}: {means}. Nothing non-finite was "
                f"saved; the last good checkpoint (step {self.last_saved_step}) is kept. "
                "Try a lower --config.lr, or check the input images.")
        epoch = (step - 1) // self.config.steps_per_epoch + self.config.epoch_count
        if self.is_main:
            logging.info("(epoch: %d, iters: %d, time/img: %.4f) %s", epoch, step,
                         seconds_per_image, ", ".join(f"{k}: {v:.3f}" for k, v in means.items()))
        self.writer.write_scalars(step, {**means, "epoch": epoch,
                                         "seconds_per_image": seconds_per_image})
        return means

    def write_samples(self, step: int, params: dict, samples: tuple) -> None:
        if not self.is_main:
            return
        grid = self.model.sample_grid(
            sharding.local_copy({n: params[n] for n in self.generators}), *samples)
        save_png(grid, self.workdir / "samples" / f"step_{step:08d}.png")
        self.writer.write_image(step, "samples", grid)

    def ground_truth(self, step: int, params: dict) -> dict:
        """Ground-truth MAE of each direction (the synthetic data's paired test split only)."""
        if self.config.dataset != "synthetic" or not self.is_main:
            return {}
        local = sharding.local_copy({n: params[n] for n in self.generators})
        scores = self.model.ground_truth(local, self.config)
        logging.info("step %d: ground-truth MAE %s", step,
                     ", ".join(f"{k[len('gt_mae_'):]} {v:.4f}" for k, v in scores.items()))
        self.writer.write_scalars(step, scores)
        return scores


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: files.PathLike) -> TrainState:
    """Trains CycleGAN as `config` says, checkpointing into `workdir`; returns the final state.

    `workdir` is a local folder or a bucket (`gs://BUCKET/run`). Resumes from the newest
    readable checkpoint in `workdir/checkpoints` if there is one. Compiled programs are
    kept in `config.compilation_cache_dir` (see `use_compilation_cache`).
    """
    config = upgrade(config)  # a private, unlocked copy with every current field
    cache = use_compilation_cache(config.compilation_cache_dir)
    if cache:
        logging.info("compiled programs are cached in %s", cache)
    mesh = sharding.data_mesh()
    try:  # every option checked before any data is read or anything compiles
        model = model_of(config)
        HParams.from_config(config)
        check_sizes(config)
        sharding.check_batch_size(config.batch_size, mesh)
    except ValueError as e:
        raise UserError(str(e)) from e
    _prepare_workdir(workdir)
    batches = model.open_batches(config, jax.process_index(), jax.process_count())
    config.steps_per_epoch = batches.steps_per_epoch
    num_steps = total_steps(config)
    data_record = batches.record()
    logging.info("%s data: %s; %d steps per epoch, %d steps in all", model.name, ", ".join(
        f"{v['name']} ({v['size']} images)" for v in data_record.values() if isinstance(v, dict)),
        batches.steps_per_epoch, num_steps)

    run = _Run(config, workdir, data_record)
    try:
        return _train(run, batches, mesh, num_steps)
    finally:
        run.close()


def _train(run: _Run, batches: Any, mesh, num_steps: int) -> TrainState:
    """Builds or resumes the state, then trains to `num_steps`; see `train_and_evaluate`."""
    config, data_record = run.config, run.data_record
    state = sharding.replicate(create_train_state(config, config.seed), mesh)
    resumed = run.checkpoints.restore_latest(state)
    if resumed is not None:
        state, record = resumed
        if record.get("data") not in (None, data_record):  # None: imported, never trained here
            raise UserError(
                f"the checkpoint in {run.checkpoints.directory} was trained on {record.get('data')}, "
                f"but the data now is {data_record}; resuming would silently change the run. "
                "Use a new --workdir, or restore the original dataset and batch size.")
        run.last_saved_step = int(state.step)
        if run.is_main:
            _check_resumed_config(run.workdir, config)
        logging.info("resumed from step %d in %s", run.last_saved_step, run.workdir)
    if run.is_main:
        save_config(run.workdir, config)
    samples = run.model.sample_images(config)
    start = int(state.step)
    if start == 0:
        run.ground_truth(0, state.network_variables())

    with StopRequest() as stop:
        state = _loop(run, state, batches, mesh, start, num_steps, samples, stop)
    step = int(state.step)
    run.save(state)
    if step >= num_steps:
        run.write_samples(step, state.network_variables(), samples)
        run.ground_truth(step, state.network_variables())
    return state


def _loop(run: _Run, state: TrainState, batches: Any, mesh, start: int,
          num_steps: int, samples: tuple, stop: StopRequest) -> TrainState:
    c = run.config
    progress = None
    if run.is_main:
        from tqdm import tqdm

        progress = tqdm(total=num_steps, initial=start, unit="it", dynamic_ncols=True,
                        mininterval=1.0, desc="train")
    finished = FinishedSteps()
    window: list[dict] = []
    iterator = sharding.prefetch_to_mesh(batches.iterate(start), mesh)
    try:
        for step in range(start, num_steps):
            state, metrics = run.model.train_step(state, next(iterator))
            window.append(metrics)
            newly_finished = finished.dispatched(metrics)
            done = step + 1
            stopping = stop.requested(done)
            if done % c.log_every == 0 or done == num_steps or stopping:
                newly_finished += finished.finish_all()
                steps, seconds = finished.take_window()
                images = max(steps * c.batch_size, 1)
                means = run.log_metrics(done, window, seconds / images)
                if progress is not None:
                    progress.set_postfix(img_s=f"{images / max(seconds, 1e-9):.1f}", **{
                        k: f"{means[k]:.3f}" for k in run.model.progress_metrics})
                window = []
            if progress is not None:
                progress.update(newly_finished)
            if done % c.sample_every == 0:
                run.write_samples(done, state.network_variables(), samples)
            if done % c.checkpoint_every == 0 or stopping:
                run.save(state)
            if stopping:
                break
    finally:
        iterator.close()
        if progress is not None:
            progress.close()
    return state

