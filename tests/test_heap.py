"""Start-up's objects frozen out of garbage collection passes (bot/ops/heap.py), and what must still be collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from bot.ops import heap


@pytest.fixture
def unfrozen_after() -> Iterator[None]:
    """The rest of the suite runs with the collector as it found it."""
    yield
    gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_what_start_up_built_is_no_longer_walked_by_a_collection_pass(unfrozen_after: None) -> None:
    built_at_start_up = [Node() for _ in range(3)]
    assert any(item is built_at_start_up for item in gc.get_objects())

    frozen = heap.settle()

    assert frozen == gc.get_freeze_count() > 0
    assert not any(item is built_at_start_up for item in gc.get_objects())  # only unfrozen objects are listed
    assert built_at_start_up[0].other is None  # and it is alive and as it was


def test_start_up_garbage_is_collected_before_the_freeze(unfrozen_after: None) -> None:
    first, second = Node(), Node()
    first.other, second.other = second, first  # a cycle: only the collector frees it
    gone = weakref.ref(first)
    del first, second

    heap.settle()

    assert gone() is None  # not frozen for ever with the rest


def test_a_cycle_made_after_start_up_is_still_collected(unfrozen_after: None) -> None:
    heap.settle()
    first, second = Node(), Node()
    first.other, second.other = second, first
    gone = weakref.ref(first)
    del first, second

    gc.collect()

    assert gone() is None
