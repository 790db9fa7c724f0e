"""Training: hyperparameters, train state, the jitted step, the loop, checkpoints, sharding."""
