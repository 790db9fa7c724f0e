"""Config file for the train.py subprocess tests: tests.helpers.train_config()."""

from tests import helpers


def get_config():
    return helpers.train_config()
