"""Queries over many ids a slice at a time: one IN list of a million ids is a statement
PostgreSQL plans badly and SQLite refuses outright (too many variables)."""

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

Row = TypeVar("Row")


def in_batches(
    ids: Sequence[int], query: Callable[[Sequence[int]], Iterable[Row]], *, size: int
) -> Iterator[Row]:
    """What `query` gives for each slice of `size` ids, one after another."""
    for start in range(0, len(ids), size):
        yield from query(ids[start : start + size])
