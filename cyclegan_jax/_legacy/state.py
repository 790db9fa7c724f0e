"""Moved: cyclegan_jax.train.hparams, .state and .optimizer. This path keeps older code importing."""

from cyclegan_jax.train.hparams import HParams  # noqa: F401
from cyclegan_jax.train.optimizer import learning_rate  # noqa: F401
from cyclegan_jax.train.state import (TrainState, create_train_state, init_params, raw_key,  # noqa: F401
                                      state_from_params)
