"""One registry per kind of stage choice: a name, its implementation and a one-line summary.

Every list of choices a person sees (the CLI's `--pipeline`-style options, `harness variants`, the
report's labels, the asv parameters) reads the registry of its kind, so a new choice is its own code
plus one `add` line, and every such list updates by itself. Order is the order of registration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Iterator, TypeVar

from pipelines.errors import UserInputError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    value: T
    summary: str


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind  # how a person names this kind of choice ("pipeline", "executor", ...)
        self._entries: dict[str, Entry[T]] = {}

    def add(self, name: str, value: T, summary: str) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, value, summary)
        return value

    def remove(self, name: str) -> None:
        """Undo `add` (a test's toy choice)."""
        del self._entries[name]

    def entry(self, name: str) -> Entry[T]:
        if name not in self._entries:
            raise UserInputError(f"unknown {self.kind} {name!r}: choose one of {', '.join(self._entries)}")
        return self._entries[name]

    def __getitem__(self, name: str) -> T:
        return self.entry(name).value

    def summary(self, name: str) -> str:
        return self.entry(name).summary

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def entries(self) -> tuple[Entry[T], ...]:
        return tuple(self._entries.values())
