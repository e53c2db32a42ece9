"""The published OpenAPI schema (docs/openapi.yaml) is the one the code generates."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_schema_matches_the_code(tmp_path):
    out = tmp_path / "openapi.yaml"
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    committed = (ROOT / "docs" / "openapi.yaml").read_text()
    assert out.read_text() == committed, "docs/openapi.yaml is stale: run `make schema`"


def test_the_schema_is_served(client, django_user_model):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"/api/v1/cases/{id}/instructions/" in response.content
