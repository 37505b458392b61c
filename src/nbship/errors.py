"""The one exception type a user sees: a single line saying what is wrong and what to do."""


class NbshipError(Exception):
    """A failure the user can act on; tasks print it as one line and exit non-zero."""
