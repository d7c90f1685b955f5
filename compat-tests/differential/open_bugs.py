"""Differences that are ferrozk bugs, found by this test and not fixed yet.

They are NOT accepted differences (those are in normalise.py): a stream that shows one is
still reported in full, but the pytest run marks it as an expected failure (xfail) instead
of failing, so every other difference still fails the run. Delete an entry once the bug is
fixed; the run then fails if the difference shows up again.
"""

from __future__ import annotations

OPEN_BUGS: list = [
    # Fixed: non-BMP characters in strings the server sends now go out as Java's jute writes
    # them (two 3-byte surrogates); a regression fails the run.
]


def classify(ref_text: str, test_text: str) -> str | None:
    """The name of the open bug this first difference is, if any."""
    for name, _what, matches in OPEN_BUGS:
        if matches(ref_text, test_text):
            return name
    return None


def describe(name: str) -> str:
    for n, what, _ in OPEN_BUGS:
        if n == name:
            return f"open ferrozk bug: {n}: {what}"
    return name
