"""Schemathesis over the whole OpenAPI spec against the real API process (``cityops api``):
whatever it sends, anonymous or as an operator, the API answers without a 5xx."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import OUTPUT
from tests.helpers import operator_token


def test_schemathesis_finds_no_server_error(api_url):
    st = [sys.executable, "-m", "schemathesis.cli", "run", f"{api_url}/openapi.json", "--checks", "not_a_server_error",
          "--max-examples", os.environ.get("FUZZ_EXAMPLES", "20"), "--seed", "2257", "--no-color"]  # fmt: skip
    for headers in ([], ["-H", f"Authorization: Bearer {operator_token(api_url)}"]):
        res = subprocess.run(st + headers, capture_output=True, text=True, timeout=600)
        (OUTPUT / f"schemathesis{'-operator' if headers else ''}.txt").write_text(res.stdout + res.stderr)
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
        assert "operations" in res.stdout.lower() or "passed" in res.stdout.lower()
