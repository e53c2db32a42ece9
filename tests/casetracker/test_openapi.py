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


def test_every_operation_lists_the_errors_it_can_answer():
    import yaml

    schema = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    paths = schema["paths"]
    ask = paths["/api/v1/cases/{id}/instructions/"]["post"]["responses"]
    assert {"201", "400", "401", "403", "404", "409"} <= set(ask)
    assert ask["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/Problem")
    confirm = paths["/api/v1/instructions/{id}/confirm-hold/"]["post"]["responses"]
    assert {"200", "400", "401", "403", "404", "409"} <= set(confirm)
    listing = paths["/api/v1/cases/"]["get"]["responses"]
    assert {"200", "400", "401", "403"} <= set(listing) and "409" not in listing
    # Signing in needs no credentials: it answers 200, 400, 413 or 429, never 409; 401 only
    # for the second factor's code (otp_required, otp_invalid).
    token = paths["/api/v1/auth/token/"]["post"]["responses"]
    assert set(token) == {"200", "400", "401", "413", "429"}
    assert "otp_required" in token["401"]["description"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            if path != "/api/v1/auth/token/":
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
            # Every view is throttled; every body may be too large.
            assert "429" in operation["responses"], (method, path)
            if method in ("post", "put", "patch"):
                assert "413" in operation["responses"], (method, path)
    # A unit code in the query is looked up in scope like an id in a path.
    assert "404" in paths["/api/v1/reports/totals/"]["get"]["responses"]
    assert "404" in paths["/api/v1/reports/periodic/"]["get"]["responses"]
