"""Errors that retrying cannot fix: a task fails at once instead of trying again."""


class PermanentError(Exception):
    """Azure or the input refused the step; the message names the fix."""
