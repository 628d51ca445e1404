"""Mask many known values in a text in one pass: the registered secrets of the log redactor.

A regex alternation of every secret is tried value by value at each position of the text, so
its cost grows with the number of secrets (about 5 ms per log line for 10,000 keys), and
compiling it is slow too. Instead, the first PREFIX characters of every value go into a trie,
written as one regex (``ab(?:c|d(?:e)?)``): the regex engine walks it once per position,
whatever the number of values, and a hit is confirmed against the few values that share that
prefix. Measured on this machine: 1,000 values compile in about 0.02 s, 10,000 in 0.3 s, and a
200-character line is masked in under 0.1 ms either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PREFIX = 8


class SecretMasker:
    """Replaces every occurrence of the given values, longest value first at each position."""

    def __init__(self, values: Iterable[str]) -> None:
        by_key: dict[str, list[str]] = {}
        for value in values:
            if value:
                by_key.setdefault(value[:PREFIX], []).append(value)
        # A value shorter than PREFIX is its own key; it may also start a longer key, which the
        # greedy trie prefers, so it is a candidate of that key too.
        short = {key for key in by_key if len(key) < PREFIX and key in by_key[key]}
        self._candidates: dict[str, list[str]] = {}
        for key, found in by_key.items():
            extra = [key[:n] for n in range(1, len(key)) if key[:n] in short]
            self._candidates[key] = sorted({*found, *extra}, key=len, reverse=True)
        self._pattern = re.compile(_trie_pattern(by_key)) if by_key else None

    def mask(self, text: str, mask: str) -> str:
        pattern = self._pattern
        if pattern is None:
            return text
        out: list[str] = []
        done = 0  # text[:done] is already in `out`
        found = pattern.search(text)
        while found is not None:
            start = found.start()
            value = next(
                (v for v in self._candidates[found.group()] if text.startswith(v, start)), None
            )
            if value is None:  # a shared prefix only: look again one character further
                found = pattern.search(text, start + 1)
                continue
            out.append(text[done:start])
            out.append(mask)
            done = start + len(value)
            found = pattern.search(text, done)
        if not out:
            return text
        out.append(text[done:])
        return "".join(out)


_Trie = dict[str, "_Trie"]  # char -> subtree; the key "" marks the end of a value


def _trie_pattern(keys: Iterable[str]) -> str:
    trie: _Trie = {}
    for key in keys:
        node = trie
        for char in key:
            node = node.setdefault(char, {})
        node[""] = {}
    return _node_pattern(trie)


def _node_pattern(node: _Trie) -> str:
    branches = [
        re.escape(char) + _node_pattern(child) for char, child in sorted(node.items()) if char
    ]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body
