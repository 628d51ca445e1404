"""The one-pass masker masks exactly what a plain alternation (longest value first) masks."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from config.masking import PREFIX, SecretMasker


def reference(values: set[str], text: str) -> str:
    ordered = sorted(values, key=len, reverse=True)
    return re.sub("|".join(re.escape(v) for v in ordered), "#", text) if values else text


def test_values_sharing_a_prefix_and_values_shorter_than_the_prefix() -> None:
    values = {"abcd", "abcdefgh-long-one", "abcdefgh-other", "bcdefghijk"}
    masker = SecretMasker(values)
    # the trie finds the 8-character key "abcdefgh" but neither long value follows: the short
    # "abcd" at the same place still counts
    assert masker.mask("x abcdefgh-zz y", "#") == "x #efgh-zz y"
    assert masker.mask("abcdefgh-other abcdefgh-long-one!", "#") == "# #!"
    assert masker.mask("zbcdefghijkz", "#") == "z#z"  # a key that no value at its place has
    assert masker.mask("abcdefgh-lobcdefghijk", "#") == "#efgh-lo#"
    assert masker.mask("nothing here", "#") == "nothing here"
    assert SecretMasker([]).mask("abcd", "#") == "abcd"


ALPHABET = st.sampled_from("abAB-_+/=.1:")


@given(
    values=st.sets(st.text(ALPHABET, min_size=1, max_size=PREFIX + 4), min_size=1, max_size=12),
    text=st.text(ALPHABET, max_size=80),
    inserted=st.lists(st.integers(min_value=0, max_value=11), max_size=4),
)
def test_masking_matches_a_longest_first_alternation(
    values: set[str], text: str, inserted: list[int]
) -> None:
    ordered = sorted(values)
    text += "".join(ordered[i % len(ordered)] for i in inserted)  # make hits likely
    assert SecretMasker(values).mask(text, "#") == reference(values, text)
