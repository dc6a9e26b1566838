"""The one exception type for mistakes in a person's input.

The CLI prints its message on a single line and exits with status 2; everything else is a bug and
keeps its traceback.
"""


class UserInputError(Exception):
    """Input that a person can fix: a missing folder, an unknown name, a malformed file."""
