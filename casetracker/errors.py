"""No input gives a 500 (API.md, "Errors"): the API's answers to what never reaches a view.

Django answers a path that matches no URL (``/api/v1/cases/abc/``), an oversize body or a bad
request with its HTML pages; under ``/api/`` these are JSON in the API's shape instead, so the
schema's ``application/json`` holds for every answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

API_PREFIX = "/api/"
# Deeper JSON than this is refused before any serializer walks it; no request of the API
# nests more than a few levels.
MAX_JSON_DEPTH = 32


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"detail": _("Not found."), "code": "not_found"},
            status=404,
            json_dumps_params={"ensure_ascii": False},
        )
    return defaults.page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"detail": _("Bad request."), "code": "bad_request"},
            status=400,
            json_dumps_params={"ensure_ascii": False},
        )
    return defaults.bad_request(request, exception)  # type: ignore[arg-type]


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"detail": _("Server error."), "code": "server_error"},
            status=500,
            json_dumps_params={"ensure_ascii": False},
        )
    return defaults.server_error(request)


class BodySizeLimitMiddleware:
    """413 for a body declared larger than DATA_UPLOAD_MAX_MEMORY_SIZE.

    DRF's parsers read the body as a stream, past Django's own check of that limit, so the
    API would otherwise read a body of any size into memory. Multipart bodies are left to
    Django, which streams their files to disk and checks the rest against the same limit.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        multipart = request.META.get("CONTENT_TYPE", "").startswith("multipart/")
        if limit is not None and length > limit and not multipart:
            message = _("The request body is larger than %(limit)d bytes.") % {"limit": limit}
            if not _is_api(request):
                return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
            return JsonResponse(
                {"detail": message, "code": "request_too_large"},
                status=413,
                json_dumps_params={"ensure_ascii": False},
            )
        return self.get_response(request)


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_JSON_DEPTH:
                break
            stack.extend(
                (child, level + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing (400) what nests too deeply instead of a RecursionError."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            data = None
            too_deep = True
        else:
            too_deep = _depth(data) > MAX_JSON_DEPTH
        if too_deep:
            raise ParseError(
                _("JSON parse error - nested more than %(depth)d levels deep.")
                % {"depth": MAX_JSON_DEPTH}
            )
        return data
