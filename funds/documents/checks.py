"""A start-up check: the fonts of the PDF documents are installed (docs/documents.md)."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from django.conf import settings
from django.core import checks


def document_fonts_check(**kwargs: Any) -> list[checks.CheckMessage]:
    """Without the CJK fonts WeasyPrint would fall back to a font without Chinese glyphs and
    issue instruments whose Chinese is missing; say so at start-up, before anything is issued."""
    if shutil.which("fc-list") is None:
        return [
            checks.Warning(
                "fontconfig's fc-list is missing, so the fonts of the PDF documents cannot be found.",
                hint="Install Debian's fontconfig and fonts-noto-cjk (make system).",
                id="funds.W002",
            )
        ]
    messages: list[checks.CheckMessage] = []
    for setting in ("DOCUMENT_FONT", "DOCUMENT_HEADING_FONT"):
        family = getattr(settings, setting)
        found = subprocess.run(  # noqa: S603 - fc-list with a pattern argument, no shell
            ["fc-list", f":family={family}:lang=zh", "family"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout.strip()
        if not found:
            messages.append(
                checks.Error(
                    f"The font {family!r} ({setting}) of the PDF documents is not installed.",
                    hint="Install Debian's fonts-noto-cjk (make system), or set "
                    f"{setting} to an installed font with Chinese glyphs.",
                    id="funds.E002",
                )
            )
    return messages
