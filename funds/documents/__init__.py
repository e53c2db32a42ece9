"""Documents as PDF: the instruments banks act on, approval forms and print views.

Pages are HTML from the project's templates, laid out by WeasyPrint (docs/documents.md): the
same templates print from the browser, and the fonts come from the machine's own install
(fontconfig), embedded and subset in every file. Rendering is deterministic: a document's
metadata carries the moment it was issued, never the moment it was rendered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone


def pdf_from_template(template: str, context: dict[str, Any], *, moment: datetime) -> bytes:
    """Render ``template`` to PDF bytes, dated ``moment`` in its metadata."""
    # Imported here: WeasyPrint loads Pango through cffi, which the web pages that never
    # print should not pay for at start-up.
    from weasyprint import HTML

    html = render_to_string(
        template,
        {
            **context,
            "document_moment": timezone.localtime(moment).isoformat(timespec="seconds"),
            "document_font": settings.DOCUMENT_FONT,
            "document_heading_font": settings.DOCUMENT_HEADING_FONT,
        },
    )
    return bytes(HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf())
