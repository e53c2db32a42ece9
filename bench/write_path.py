"""Benchmark: the officer's ``POST /cases/`` under gunicorn, next to ``GET /me/`` in the same run.

    make bench-write                  # 10 s of each, 10 connections
    DURATION=15 CONNECTIONS=10 make bench-write
    PROFILE=1 make bench-write        # and a pyinstrument profile of POST /cases/ in-process

Builds a throwaway PostgreSQL database (``<DATABASE_URL name>_bench``, dropped first),
migrates it and loads the demo world, then:

* in-process, through Django's test client: the median milliseconds of ``POST /cases/`` and
  the queries one case costs (with PROFILE=1, pyinstrument's profile of the same requests);
* starts gunicorn with the project's gunicorn.conf.py (GUNICORN_WORKERS, 4 by default) on a
  free port of 127.0.0.1, with production settings (DEBUG off, Redis for the cache) except
  plain HTTP on loopback (SECURE_SSL_REDIRECT=0) and the API throttles raised so that they
  count every request but never refuse one;
* signs the demo officer in (``POST /api/v1/auth/token/``) and runs ``wrk`` (Debian's package)
  with CONNECTIONS connections for DURATION seconds against ``GET /api/v1/me/`` (the
  baseline: authentication, throttle and middleware, no write) and then ``POST /api/v1/cases/``
  (a new case each request, its number generated), after a short warm-up of each.

It prints req/s, p50/p95/p99 latency and the non-2xx answers of each and the ratio of POST to
GET, and fails if any request got an answer other than 2xx. gunicorn is stopped at the end
whatever happens. Loopback only: nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casetracker.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
# Production settings but for TLS: loopback speaks plain HTTP, as behind the local nginx.
os.environ["DEBUG"] = "0"
os.environ["SECURE_SSL_REDIRECT"] = "0"
os.environ["ALLOWED_HOSTS"] = "127.0.0.1,testserver"
# The throttles still count every request (their cost is part of the path) but never refuse
# one: a one-second window holds at most a second of requests, as 600/min holds a minute's.
BENCH_THROTTLE = "1000000/sec"
for _name in ("API_THROTTLE_USER", "API_THROTTLE_KEY", "API_THROTTLE_ANON"):
    os.environ[_name] = BENCH_THROTTLE

from throwaway import throwaway_database  # noqa: E402 - bench/ is the script's folder

DURATION = int(os.environ.get("DURATION", "10"))
WARMUP = int(os.environ.get("WARMUP", "2"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "10"))
THREADS = int(os.environ.get("THREADS", "2"))
WORKERS = int(os.environ.get("GUNICORN_WORKERS", "4"))
IN_PROCESS_CASES = int(os.environ.get("CASES", "50"))
PROFILE = os.environ.get("PROFILE", "") not in ("", "0")
OFFICER = "officer_lx"

CASE_BODY = {
    "title": "写入路径基准",
    "fraud_type": "investment",
    "reported_at": "2026-12-01T09:30:00+08:00",
    "description": "bench/write_path.py",
}

# wrk's script: the method, headers and body of every request, and a count of the answers
# by status kept per thread (wrk's own error count leaves out 3xx).
WRK_SCRIPT = """
local threads = {}
wrk.method = os.getenv("BENCH_METHOD")
wrk.headers["Authorization"] = "Token " .. os.getenv("BENCH_TOKEN")
wrk.headers["Accept"] = "application/json"
local body = os.getenv("BENCH_BODY")
if body ~= nil and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok = 0
  not_ok = 0
  first_bad = ""
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    not_ok = not_ok + 1
    if first_bad == "" then
      first_bad = status .. " " .. string.gsub(string.sub(body or "", 1, 300), '[%c"\\\\]', " ")
    end
  end
end

function done(summary, latency, requests)
  local ok_total, bad_total, bad = 0, 0, ""
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    bad_total = bad_total + thread:get("not_ok")
    if bad == "" then bad = thread:get("first_bad") end
  end
  io.write(string.format(
    'BENCH {"requests": %d, "seconds": %.6f, "ok": %d, "not_ok": %d, "socket_errors": %d, '
    .. '"p50": %.3f, "p95": %.3f, "p99": %.3f, "first_bad": "%s"}\\n',
    summary.requests, summary.duration / 1e6, ok_total, bad_total,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    bad))
end
"""


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("The write-path benchmark needs wrk: apt-get install wrk (make bench-write).")
    with throwaway_database():
        run()


def run() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from devdata.world import build_demo_world

    call_command("migrate", verbosity=0)
    build_demo_world()
    in_process = measure_in_process()
    # gunicorn's workers open their own connections; this process keeps none open.
    connections.close_all()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-write-") as scratch:
        log_path = Path(scratch) / "gunicorn.log"
        script = Path(scratch) / "request.lua"
        script.write_text(WRK_SCRIPT)
        with log_path.open("w") as log:
            server = start_gunicorn(port, log)
            try:
                wait_until_up(base, server, log_path)
                token = sign_in(base)
                results = {}
                for label, method, path, body in (
                    ("GET /api/v1/me/", "GET", "/api/v1/me/", ""),
                    ("POST /api/v1/cases/", "POST", "/api/v1/cases/", json.dumps(CASE_BODY)),
                ):
                    wrk(base + path, script, method, token, body, WARMUP)
                    results[label] = wrk(base + path, script, method, token, body, DURATION)
            finally:
                stop(server)
    report(in_process, results)


def measure_in_process() -> dict[str, Any]:
    """Median ms and queries of POST /cases/ through Django's test client (no HTTP server)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.credentials import api_token_issue
    from accounts.models import User

    officer = User.objects.get(username=OFFICER)
    client = Client(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=officer).secret}")

    def post() -> None:
        response = client.post("/api/v1/cases/", CASE_BODY, content_type="application/json")
        if response.status_code != 201:
            sys.exit(
                f"In-process POST /cases/ answered {response.status_code}: {response.content!r}"
            )

    post()  # warm: the first request imports and compiles what the rest reuse
    with CaptureQueriesContext(connection) as captured:
        post()
    # Copied now: each later request empties the connection's log of queries.
    queries = list(captured.captured_queries)
    times = []
    profiler = None
    if PROFILE:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    for _ in range(IN_PROCESS_CASES):
        begin = time.perf_counter()
        post()
        times.append((time.perf_counter() - begin) * 1000)
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        print("The queries of one POST /cases/:")
        for query in queries:
            print("  ", query["sql"][:160])
    return {"ms": statistics.median(times), "queries": len(queries)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_gunicorn(port: int, log: Any) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS=str(WORKERS))
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return subprocess.Popen(  # noqa: S603 - the venv's gunicorn, fixed arguments
        [str(gunicorn), "-c", "gunicorn.conf.py", "casetracker.wsgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until_up(base: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn stopped at start-up:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"gunicorn did not answer /healthz within 60 s:\n{log_path.read_text()[-3000:]}")


def sign_in(base: str) -> str:
    from devdata.world import DEMO_PASSWORD

    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{base}/api/v1/auth/token/",
        data=json.dumps({"username": OFFICER, "password": DEMO_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return str(json.load(answer)["token"])


def wrk(url: str, script: Path, method: str, token: str, body: str, seconds: int) -> dict[str, Any]:
    env = dict(os.environ, BENCH_METHOD=method, BENCH_TOKEN=token, BENCH_BODY=body)
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", str(script), url]
    done = subprocess.run(  # noqa: S603 - wrk from PATH, fixed arguments
        command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        sys.exit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(line.removeprefix("BENCH "))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn and its workers (its own process group), killing it if it lingers."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=35)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def report(in_process: dict[str, Any], results: dict[str, dict[str, Any]]) -> None:
    print(
        f"gunicorn: {WORKERS} workers on 127.0.0.1, DEBUG off, plain HTTP; throttles at "
        f"{BENCH_THROTTLE} (counted, never refusing); wrk: {CONNECTIONS} connections, "
        f"{THREADS} threads, {DURATION} s each after {WARMUP} s of warm-up"
    )
    print(
        f"in-process POST /cases/ (test client, median of {IN_PROCESS_CASES}): "
        f"{in_process['ms']:.1f} ms, {in_process['queries']} queries a case"
    )
    print()
    print(
        f"| {'request':<22} | {'req/s':>8} | {'p50 ms':>7} | {'p95 ms':>7} | {'p99 ms':>7} | "
        f"{'requests':>8} | {'non-2xx':>7} | {'socket errors':>13} |"
    )
    print(
        f"|{'-' * 24}|{'-' * 9}:|{'-' * 8}:|{'-' * 8}:|{'-' * 8}:|{'-' * 9}:|{'-' * 8}:|"
        f"{'-' * 14}:|"
    )
    for label, r in results.items():
        print(
            f"| {label:<22} | {r['rps']:>8.1f} | {r['p50']:>7.1f} | {r['p95']:>7.1f} | "
            f"{r['p99']:>7.1f} | {r['requests']:>8} | {r['not_ok']:>7} | {r['socket_errors']:>13} |"
        )
    get, post = results["GET /api/v1/me/"], results["POST /api/v1/cases/"]
    print()
    print(
        f"POST /cases/ : GET /me/ = {post['rps'] / get['rps']:.2f}x (goal: at least 0.5x), "
        f"POST p95 {post['p95']:.1f} ms (goal: under 100 ms)"
    )
    failed = [label for label, r in results.items() if r["not_ok"] or r["socket_errors"]]
    if failed:
        for label in failed:
            print(
                f"FAILED: {label}: {results[label]['not_ok']} non-2xx answers, "
                f"{results[label]['socket_errors']} socket errors; first: "
                f"{results[label]['first_bad']}",
                file=sys.stderr,
            )
        sys.exit(1)


if __name__ == "__main__":
    main()
