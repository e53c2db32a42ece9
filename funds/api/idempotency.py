"""``Idempotency-Key`` on every POST of API v1 (API.md, "Retries (Idempotency-Key)").

DRF authenticates inside the view, so a Django middleware would not know whose key it is:
every API view class takes ``Idempotent`` as its first base instead, and
tests/funds/test_idempotency.py walks the URL resolver so that a new POST route cannot
forget it. A POST with the header runs in ONE transaction, opened in ``dispatch``:

1. ``initial`` (after authentication and permissions) takes the key's advisory lock without
   waiting (busy: 409 ``idempotency_key_in_use``), then looks the key up: kept with the same
   fingerprint, the kept answer is replayed with ``Idempotent-Replayed: true``; kept with
   another method, path or body, 422 ``idempotency_key_reused``.
2. Otherwise the view runs as usual. The services' own ``atomic()`` blocks become savepoints,
   and their ``on_commit`` hooks (mail, Celery kicks) fire only after the outer commit.
3. ``finalize_response`` keeps the answer in the same transaction. Every answer below 500 is
   kept, as Stripe does: a 400, 403 or 409 ``invalid_state`` replays as it was. A 5xx or an
   exception rolls everything back and keeps nothing, so the retry is processed afresh.

The token endpoint (``POST /auth/token/``) has no user before it runs: it ignores the header
(and keeping its answer would keep a credential).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponseBase
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from funds.services.idempotency import (
    KEY_MAX_LENGTH,
    idempotency_key_claim,
    idempotency_key_find,
    idempotency_key_keep,
    key_is_valid,
    request_fingerprint,
)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IN_USE_CODE = "idempotency_key_in_use"
REUSED_CODE = "idempotency_key_reused"


@dataclass
class _Pending:
    key: str
    method: str
    path: str
    fingerprint: str
    # Set once the key is claimed for this request: the answer is then to be kept.
    actor: User | None = None


class _Answered(Exception):  # not an error: it carries the answer to give
    """Answer the request with ``response`` instead of running the view."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class Idempotent:
    """Honour ``Idempotency-Key`` on POST (first base of every API view class)."""

    _idempotency: _Pending | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        key = request.headers.get(HEADER)
        if request.method != "POST" or key is None:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        self._idempotency = _Pending(
            key=key,
            method=request.method,
            path=request.path,
            fingerprint=request_fingerprint(
                method=request.method,
                path=request.path,
                body=request.body,
                content_type=request.content_type or "",
                boundary=(request.content_params or {}).get("boundary", ""),
            ),
        )
        with transaction.atomic():
            response: HttpResponseBase = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
            if response.status_code >= status.HTTP_500_INTERNAL_SERVER_ERROR:
                transaction.set_rollback(True)
        return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        pending = self._idempotency
        if pending is None or not request.user.is_authenticated:
            return
        if not key_is_valid(pending.key):
            message = _("An Idempotency-Key is 1 to %(max)d printable ASCII characters.") % {
                "max": KEY_MAX_LENGTH
            }
            raise _Answered(Response({HEADER: [message]}, status=status.HTTP_400_BAD_REQUEST))
        actor: User = request.user
        if not idempotency_key_claim(actor=actor, key=pending.key):
            raise _Answered(
                Response(
                    {
                        "detail": _("A request with this Idempotency-Key is still in progress."),
                        "code": IN_USE_CODE,
                    },
                    status=status.HTTP_409_CONFLICT,
                )
            )
        kept = idempotency_key_find(actor=actor, key=pending.key)
        if kept is None:
            pending.actor = actor
            return
        if kept.fingerprint != pending.fingerprint:
            raise _Answered(
                Response(
                    {
                        "detail": _(
                            "This Idempotency-Key was used for another request "
                            "(%(method)s %(path)s or another body): use a new key."
                        )
                        % {"method": kept.method, "path": kept.path},
                        "code": REUSED_CODE,
                    },
                    status=status.HTTP_422_UNPROCESSABLE_ENTITY,
                )
            )
        replay = Response(kept.response_body, status=kept.response_status)
        replay[REPLAYED_HEADER] = "true"
        raise _Answered(replay)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _Answered):
            return exc.response
        return super().handle_exception(exc)  # type: ignore[misc]

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        pending = self._idempotency
        if pending is None or pending.actor is None:
            return response
        if response.status_code >= status.HTTP_500_INTERNAL_SERVER_ERROR:
            return response  # rolled back in dispatch: the retry is processed afresh
        if not isinstance(response, Response):
            # Every POST of the API answers a DRF Response (JSON data); anything else could
            # not be replayed faithfully, so refuse loudly rather than keep a wrong answer.
            raise TypeError(f"{type(self).__name__} answered a POST without a DRF Response")
        idempotency_key_keep(
            actor=pending.actor,
            key=pending.key,
            method=pending.method,
            path=pending.path,
            fingerprint=pending.fingerprint,
            status=response.status_code,
            # As the client received it in JSON (amounts as strings, times ISO 8601).
            body=None
            if response.data is None
            else json.loads(JSONRenderer().render(response.data)),
        )
        return response
