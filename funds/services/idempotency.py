"""Kept answers to retried POSTs (API.md, "Retries (Idempotency-Key)").

The API's glue (funds.api.idempotency) calls these inside the one transaction that wraps a
POST sent with the header: the lock, the look-up and the kept answer share the effect's
transaction, so a crash never keeps an answer without its effect, or an effect without its
answer.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from funds.models import IdempotencyKey

KEY_MAX_LENGTH = 255
PURGE_BATCH = 1000


def key_is_valid(key: str) -> bool:
    """1-255 printable ASCII characters (space to tilde)."""
    return 0 < len(key) <= KEY_MAX_LENGTH and all(" " <= c <= "~" for c in key)


def request_fingerprint(
    *, method: str, path: str, body: bytes, content_type: str, boundary: str = ""
) -> str:
    """SHA-256 of the method, the path and the body.

    A JSON body is hashed as canonical JSON (sorted keys, no spaces), so that a client that
    serialises its retry afresh, with other whitespace or key order, still matches. A
    multipart body (a statement upload) is hashed with its ``boundary`` replaced by a fixed
    token: clients draw a new random boundary for each attempt, while the parts are the same.
    Any other body is hashed as its bytes.
    """
    if content_type == "multipart/form-data" and boundary:
        body = body.replace(b"--" + boundary.encode("latin-1"), b"--multipart-boundary")
    if content_type == "application/json":
        try:
            parsed = json.loads(body)
        except ValueError:  # DRF answers the malformed body with its 400; hash it as it came
            pass
        else:
            body = json.dumps(
                parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no two splits collide
        digest.update(part)
    return digest.hexdigest()


def _lock_id(user_id: int, key: str) -> int:
    """A signed 64-bit advisory-lock id for the user's key (PostgreSQL's bigint)."""
    digest = hashlib.sha256(f"idempotency:{user_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def idempotency_key_claim(*, actor: User, key: str) -> bool:
    """Take the key's transaction-scoped lock without waiting; False while another request
    with the key holds it (still in flight). Must run inside the request's transaction: the
    lock is released when it commits or rolls back, after which the kept answer is visible."""
    assert connection.in_atomic_block, "the key's lock lives as long as the transaction"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_lock_id(actor.pk, key)])
        return bool(cursor.fetchone()[0])


def idempotency_key_find(*, actor: User, key: str) -> IdempotencyKey | None:
    return IdempotencyKey.objects.filter(user=actor, key=key).first()


def idempotency_key_keep(
    *,
    actor: User,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    status: int,
    body: Any,
) -> IdempotencyKey:
    """Keep the first answer to the key (under its lock, in the effect's transaction)."""
    return IdempotencyKey.objects.create(
        user=actor,
        key=key,
        method=method,
        path=path,
        fingerprint=fingerprint,
        response_status=status,
        response_body=body,
        created_at=timezone.now(),
    )


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete the answers kept longer than IDEMPOTENCY_KEY_TTL, a batch at a time, so that a
    long backlog never holds one huge delete's locks. Safe to run twice or on two workers."""
    cutoff = (now or timezone.now()) - settings.IDEMPOTENCY_KEY_TTL
    purged = 0
    while True:
        with transaction.atomic():
            batch = list(
                IdempotencyKey.objects.filter(created_at__lt=cutoff)
                .order_by("pk")
                .values_list("pk", flat=True)[:PURGE_BATCH]
            )
            if batch:
                purged += IdempotencyKey.objects.filter(pk__in=batch).delete()[0]
        if len(batch) < PURGE_BATCH:
            return purged
