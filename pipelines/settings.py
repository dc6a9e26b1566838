"""A settings field that carries its own help and choices, so the command line is made from the settings.

`harness/cli/fields.py` turns such a field into a click option: the default, type, help and choices
are declared here once, beside the code that uses them.
"""

from __future__ import annotations

import dataclasses


def setting(default=dataclasses.MISSING, help: str | None = None, choices=None):
    """A dataclass field with `help` (the option's help text) and `choices` (a Registry, or a function
    returning names) in its metadata."""
    metadata = {"help": help, **({"choices": choices} if choices is not None else {})}
    return dataclasses.field(default=default, metadata=metadata)
