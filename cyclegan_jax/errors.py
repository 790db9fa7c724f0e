"""The error type for user mistakes: shown as a message, never as a bare traceback."""


class UserError(Exception):
    """Bad input, config or environment: the message says what was wrong and what to do."""
