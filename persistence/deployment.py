"""The deployment tag: four random lowercase letters, one per database (item 10 of issue 11).

Client order ids carry it, so two deployments (two databases) that trade on one exchange account
never mistake each other's orders for their own. 26**4 = 456,976 tags: two databases sharing an
account collide with odds of about 1 in 450,000, and the tag is never reused by a database.
"""

from __future__ import annotations

import re
import secrets
import string

TAG_LENGTH = 4
TAG_PATTERN = re.compile(rf"[a-z]{{{TAG_LENGTH}}}")


def new_deployment_tag() -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(TAG_LENGTH))


def checked_deployment_tag(tag: str) -> str:
    """`tag` if it is a valid deployment tag; ValueError naming what is wrong otherwise."""
    if not isinstance(tag, str) or TAG_PATTERN.fullmatch(tag) is None:
        raise ValueError(
            f"deployment tag must be {TAG_LENGTH} lowercase ASCII letters (a-z), got {tag!r}"
        )
    return tag
