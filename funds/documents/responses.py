"""Answering a PDF document over HTTP, for the API and the pages alike."""

from __future__ import annotations

from urllib.parse import quote

from django.http import HttpResponse


def pdf_response(
    pdf: bytes, *, filename: str, fallback: str, sha256: str | None = None
) -> HttpResponse:
    """``pdf`` shown in the browser's viewer (``inline``), saved as ``filename`` (``fallback``,
    plain ASCII, for clients that cannot read RFC 6266's UTF-8 name); with its hash as the
    ETag (and ``X-Document-SHA256``) when it is a stored document."""
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = (
        f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
    )
    response["Content-Length"] = str(len(pdf))
    if sha256 is not None:
        response["ETag"] = f'"{sha256}"'
        response["X-Document-SHA256"] = sha256
    return response
