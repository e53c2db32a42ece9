"""gunicorn's settings for casetracker's web processes (read from the working directory).

Every value can be changed from the environment without editing this file:
GUNICORN_BIND, GUNICORN_WORKERS, GUNICORN_THREADS, GUNICORN_TIMEOUT.
"""

import multiprocessing
import os

# Behind nginx on the same host (deploy/nginx/casetracker.conf); a socket or 0.0.0.0:8000
# when the proxy is elsewhere.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Two per core plus one: the requests wait on PostgreSQL more than they compute.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# An import of a large statement goes to Celery; no request needs more than this.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Restart each worker now and then, so that a slow leak never grows without bound.
max_requests = 2000
max_requests_jitter = 200
# Load the application before forking: a broken setting stops the master at once, loudly,
# instead of every worker failing on its own.
preload_app = True
# Logs on stderr for journald; the application's own lines are JSON (LOG_FORMAT).
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss rid=%({x-request-id}o)s'
# nginx sets X-Forwarded-For and X-Forwarded-Proto; trust them from the local proxy only.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
