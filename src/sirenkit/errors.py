"""The one exception type for bad input: the CLI prints its message on one line and exits 2."""


class InputError(ValueError):
    """A user-facing problem with input data, options or files; the message says what to fix."""
