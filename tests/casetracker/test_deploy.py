"""The deployment's own files, run where this machine can: gunicorn with gunicorn.conf.py.
(No container engine, systemd or nginx runs here; docs/operations.md says how to check them.)"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.funds.test_celery_integration import worker_database_url

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fetch(port: int, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.mark.django_db
def test_gunicorn_serves_with_the_projects_config_in_production_mode():
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "k" * 20 + "-production-secret-" + "z9" * 20,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": worker_database_url(),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
    }
    process = subprocess.Popen(
        [str(GUNICORN), "casetracker.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, headers, body = fetch(port, "/healthz", **{"X-Request-ID": "lb-probe-1"})
                break
            except OSError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
                time.sleep(0.2)
        assert status == 200 and b'"ok"' in body
        assert headers["X-Request-ID"] == "lb-probe-1"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    # The config's access log names each request's id; the workers that preloaded the app
    # booted from gunicorn.conf.py (2 of them).
    assert "rid=lb-probe-1" in output
    assert output.count("Booting worker") == 2


def test_collectstatic_works_in_production_mode(tmp_path):
    """Every vendored file's references resolve, or the hashed manifest cannot be built
    (Chart.js's bundle names its source map, which must be vendored beside it)."""
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "k" * 20 + "-production-secret-" + "z9" * 20,
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = (tmp_path / "static" / "staticfiles.json").read_text()
    assert "vendor/echarts-6.1.0/echarts.min.js" in manifest
    assert "js/intake.js" in manifest
