"""web/static/vendor/ holds exactly what tools/vendor_js.sh pins: each file the bytes recorded in
VERSIONS.txt, at the script's versions. A hand edit, a stray file or a version bumped in the
script without a run fails here, offline (the check mode reads no network)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils' sha256sum")
def test_the_vendored_javascript_matches_its_pinned_versions_and_hashes() -> None:
    checked = subprocess.run(
        ["bash", str(REPO_ROOT / "tools" / "vendor_js.sh"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert checked.returncode == 0, checked.stderr
