"""Giving freed memory back to the operating system (glibc's ``malloc_trim``).

glibc keeps what a program frees in its heaps for the next allocation, and a heap whose top
is still in use is never shrunk: after a burst of queries the server's RSS stays at the peak
although nothing holds the memory (closing an idle merge DuckDB frees a few MB that stay
mapped). ``malloc_trim(0)`` returns the free pages of every heap. It walks the heaps, so it is
called when something large was just closed (an idle merge instance), never per query.

Elsewhere (macOS, musl, Windows) there is no such call and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

__all__ = ["give_back_freed_memory"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


def give_back_freed_memory() -> bool:
    """Return the allocator's free pages to the system; False where the allocator cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
