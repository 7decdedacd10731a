"""A tiny base for slotted value classes on the import path.

``dataclasses`` costs ~7 ms to import (it pulls in ``inspect``), ``typing``
~10 ms on a small VM: too much for modules that ``import wattprint`` loads.
Classes here spell out a typed ``__init__`` (so type checkers see real
signatures), pass their values on in ``__slots__`` order, and get ``repr``,
equality and a dict form from ``__slots__``.
"""

from __future__ import annotations


class Record:
    """Mixin: repr, equality and ``_asdict()`` over the subclass's ``__slots__``."""

    __slots__: tuple[str, ...] = ()

    def _asdict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable by default; frozen ones define it


class FrozenRecord(Record):
    """A Record that refuses attribute changes after ``__init__`` and can be hashed.

    Subclasses spell out a typed ``__init__`` and hand the values, in
    ``__slots__`` order, to ``super().__init__(...)``.
    """

    __slots__: tuple[str, ...] = ()

    def __init__(self, *values: object) -> None:
        if len(values) != len(self.__slots__):
            raise TypeError(f"{type(self).__name__} takes {len(self.__slots__)} values, got {len(values)}")
        for name, value in zip(self.__slots__, values):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(getattr(self, k) for k in self.__slots__))
