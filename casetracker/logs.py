"""Logs a machine can read: one JSON object a line, each with the request (or task) it
belongs to, so that the lines of one request can be found across web and worker hosts.

The request id is the proxy's ``X-Request-ID`` when it sends a sane one (nginx's
``$request_id``, deploy/nginx/casetracker.conf), else a new one; it goes back in the
response's ``X-Request-ID``. In a Celery worker it is the task's id.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

request_id: ContextVar[str] = ContextVar("request_id", default="-")

# What an id from outside may look like: short, no spaces or control characters to forge
# log lines with.
SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
HEADER = "X-Request-ID"


class RequestIdFilter(logging.Filter):
    """Give every record the id of the request or task being handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class RequestIdMiddleware:
    """Take or make the request's id, for the logs and the response header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(HEADER, "")
        value = given if SANE_ID.match(given) else uuid.uuid4().hex
        # Kept until the request has finished (below), since Django logs a 4xx or 5xx
        # ("django.request") after the middleware has returned.
        request_id.set(value)
        response = self.get_response(request)
        response[HEADER] = value
        return response


@receiver(request_finished)
def _forget_the_request(**kwargs: object) -> None:
    request_id.set("-")
