"""Keeping Python's cyclic garbage collector out of the way of large, long-lived data.

Loading 10,000 manifests, reading a portal of as many objects, or diffing the two builds
millions of small containers that form no reference cycles and live until the command ends.
The collector can free none of them, yet each of its passes walks them again: left running,
it took a third of the time of a plan of a 10,000-document estate, and the first pass after
a mere pause still walked everything the pause had built (0.2 s).

So a pause ends by freezing what is alive (``gc.freeze``): the collector never walks it
again. Reference counting still frees whatever is dropped later; only cyclic garbage among
frozen objects waits for ``release()``. A command-line run ends with the process; a
long-lived process that runs commands (a test session) calls ``release()`` between them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block, then freeze what the block leaves alive
    (also usable as a decorator). Nested pauses and a collector the caller disabled are left
    as they are."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def release() -> None:
    """Make everything frozen by earlier pauses collectable again."""
    gc.unfreeze()
