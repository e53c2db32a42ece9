import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import Combinable
from django.db.models.fields.tuple_lookups import (
    Tuple,
    TupleGreaterThan,
    TupleGreaterThanOrEqual,
    TupleLessThan,
    TupleLessThanOrEqual,
)
from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from funds.models import Instruction, InstructionStatus
from funds.models.instructions import INBOX_DUE, INBOX_WAITING, NO_DUE_TIME
from funds.selectors import INBOX_ORDER


class Pagination(PageNumberPagination):
    """``{"count", "next", "previous", "results"}``; ``page_size`` up to 200.

    A page that is not a positive number, or past the last page, is a 400 on ``page`` (API.md,
    "Errors": bad input), not DRF's 404, which would say that the list itself is missing.
    """

    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(
        self, queryset: QuerySet[Any] | Sequence[Any], request: Request, view: APIView | None = None
    ) -> list[Any] | None:
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as exc:
            raise ValidationError({self.page_query_param: [exc.detail]}) from exc


# (waiting, due, requested_at, id): where a row stands in the inbox's order (INBOX_ORDER).
Key = tuple[int, datetime | None, datetime, int]


class InboxPagination(Pagination):
    """The instruction list; a liaison's inbox page by page from its index (keyset).

    A list in the inbox's order (funds.selectors.INBOX_ORDER) asked for without ``page`` is
    read from the index instruction_liaison_inbox: a page is the ``page_size`` rows after the
    row the previous page ended on, whose key ``next`` carries as ``cursor``. Page 1,000 then
    costs what page 1 costs, and a row that keeps its place is neither repeated nor skipped
    when others are answered while the bank pages (offset pages shift each time a row above
    them moves; a row that moves, a request answered, shows where it now belongs). ``count`` counts up to API_COUNT_LIMIT rows; beyond,
    it answers that limit and ``count_exact`` is false (API.md: extended, not changed).

    ``?page=N`` answers as before (an exact count, rows by offset), for whoever asks by
    number, and so does every list not in the inbox's order (the police's).
    """

    cursor_query_param = "cursor"
    keyset = False
    count_exact = True

    def paginate_queryset(
        self, queryset: QuerySet[Any] | Sequence[Any], request: Request, view: APIView | None = None
    ) -> list[Any] | None:
        self.keyset = (
            isinstance(queryset, QuerySet)
            and self.page_query_param not in request.query_params
            and tuple(queryset.query.order_by) == INBOX_ORDER
        )
        if not self.keyset:
            self.count_exact = True
            return super().paginate_queryset(queryset, request, view)
        assert isinstance(queryset, QuerySet)
        self.request = request
        size = self.get_page_size(request)
        assert size is not None  # settings.REST_FRAMEWORK["PAGE_SIZE"] is always set
        key, backwards = self._cursor(request)
        limit = settings.API_COUNT_LIMIT
        counted = queryset.order_by().values("pk")[: limit + 1].count()
        self.total, self.count_exact = min(counted, limit), counted <= limit

        rows = queryset
        if key is not None:
            rows = rows.filter(*(keyset_before(key) if backwards else keyset_after(key)))
        if backwards:
            rows = rows.reverse()
        page: list[Instruction] = list(rows[: size + 1])
        more = len(page) > size
        page = page[:size]
        if backwards:
            page.reverse()
        # After a step back there is always a next page (the row the cursor named), and a
        # step forward always has a previous one.
        self.next_key = _key(page[-1]) if page and (more or backwards) else None
        if key is None:
            self.previous_key = None
        elif backwards:
            self.previous_key = _key(page[0]) if page and more else None
        else:
            self.previous_key = _key(page[0]) if page else key
        return page

    def get_paginated_response(self, data: Any) -> Response:
        if not self.keyset:
            response = super().get_paginated_response(data)
            response.data["count_exact"] = True
            return response
        return Response(
            {
                "count": self.total,
                "count_exact": self.count_exact,
                "next": self._link(self.next_key, backwards=False),
                "previous": self._link(self.previous_key, backwards=True),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        answer = super().get_paginated_response_schema(schema)
        answer["properties"]["count"]["description"] = (
            "The rows of the list; a liaison's list counts up to API_COUNT_LIMIT (10,000 by "
            "default) and answers that limit beyond it, with count_exact false."
        )
        answer["properties"]["count_exact"] = {"type": "boolean", "example": True}
        answer["required"].append("count_exact")
        return answer

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Where a liaison's page starts: the value in the previous "
                "answer's next or previous link (opaque). Without page, a liaison's list is "
                "paged by cursor.",
                "schema": {"type": "string"},
            },
        ]

    def _link(self, key: Key | None, *, backwards: bool) -> str | None:
        if key is None:
            return None
        assert self.request is not None
        url = remove_query_param(self.request.build_absolute_uri(), self.page_query_param)
        return replace_query_param(url, self.cursor_query_param, cursor_encode(key, backwards))

    def _cursor(self, request: Request) -> tuple[Key | None, bool]:
        value = request.query_params.get(self.cursor_query_param)
        if value is None:
            return None, False
        try:
            return cursor_decode(value)
        except ValueError:
            raise ValidationError({self.cursor_query_param: [_("Invalid cursor.")]}) from None


def cursor_decode(value: str) -> tuple[Key, bool]:
    """The key and direction a cursor carries; ValueError if it is not one of ours."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(value.encode("ascii") + b"==="))
        waiting, due, requested_at, pk = raw["k"]
        key: Key = (
            int(waiting),
            None if due is None else datetime.fromisoformat(due),
            datetime.fromisoformat(requested_at),
            int(pk),
        )
        backwards = bool(raw.get("b", False))
    except (ValueError, TypeError, KeyError, UnicodeError, binascii.Error) as exc:
        raise ValueError("not a cursor") from exc
    if any(moment.tzinfo is None for moment in key[1:3] if moment is not None):
        raise ValueError("a cursor's times carry their offset")
    return key, backwards


def _key(instruction: Instruction) -> Key:
    return (
        0 if instruction.status == InstructionStatus.PENDING else 1,
        instruction.response_due_at,
        instruction.requested_at,
        instruction.pk,
    )


def cursor_encode(key: Key, backwards: bool) -> str:
    waiting, due, requested_at, pk = key
    raw: dict[str, Any] = {"k": [waiting, due and due.isoformat(), requested_at.isoformat(), pk]}
    if backwards:
        raw["b"] = True
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode("ascii").rstrip("=")


def _head(key: Key) -> tuple[Tuple, tuple[int, Combinable | datetime]]:
    waiting, due, _requested_at, _pk = key
    return Tuple(INBOX_WAITING, INBOX_DUE), (waiting, NO_DUE_TIME if due is None else due)


def keyset_after(key: Key) -> tuple[Any, ...]:
    """The rows after ``key`` in the inbox's order. The first condition is the index's range
    (its leading columns, all ascending); the second breaks ties among rows due at the same
    moment, newest first."""
    head, value = _head(key)
    tail = Tuple(F("requested_at"), F("id"))
    return (
        TupleGreaterThanOrEqual(head, value),
        Q(TupleGreaterThan(head, value)) | Q(TupleLessThan(tail, key[2:])),
    )


def keyset_before(key: Key) -> tuple[Any, ...]:
    """The rows before ``key`` in the inbox's order (read backwards)."""
    head, value = _head(key)
    tail = Tuple(F("requested_at"), F("id"))
    return (
        TupleLessThanOrEqual(head, value),
        Q(TupleLessThan(head, value)) | Q(TupleGreaterThan(tail, key[2:])),
    )
