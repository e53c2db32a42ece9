from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class StatementImport(models.Model):
    """One upload of a statement (流水) into a case: who, when, which file, what came of it.

    A dry run (the page's preview) is kept too, so that its commit needs no second upload:
    committing turns the same row into the import. The file's bytes are kept in the
    database (StatementFileChunk), not on a disk, since the Celery worker that processes a
    large file may run on another host.
    """

    case = models.ForeignKey(
        "funds.Case", on_delete=models.CASCADE, related_name="imports", verbose_name=_("case")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("imported by"),
    )
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    file_name = models.CharField(_("file name"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("size in bytes"))
    # The template asked for ('' = detect from the header) and the one used.
    template_requested = models.CharField(max_length=40, blank=True)
    template = models.CharField(_("template"), max_length=40, blank=True)
    # The institution that returned the statement (the queried card's bank), for the
    # templates whose rows are seen from one account.
    institution = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("returned by"),
    )
    dry_run = models.BooleanField(_("dry run"), default=False)
    status = models.CharField(
        _("status"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    rows = models.PositiveIntegerField(_("rows"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    accounts_added = models.PositiveIntegerField(_("accounts added"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    # At most IMPORT_MAX_ERRORS_LISTED of them: {"row", "column", "message"} (and "sheet").
    errors = models.JSONField(_("errors"), default=list, blank=True)
    # 0-100; while running, the live figure is in the cache (funds.services.imports).
    progress = models.PositiveSmallIntegerField(_("progress"), default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("statement import")
        verbose_name_plural = _("statement imports")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["case", "-created_at"], name="import_case_created")]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="import_progress_percent"),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)


class StatementFileChunk(models.Model):
    """A piece of an uploaded file, so that neither storing nor reading it holds it whole."""

    statement_import = models.ForeignKey(
        StatementImport, on_delete=models.CASCADE, related_name="chunks"
    )
    seq = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["statement_import", "seq"], name="statement_chunk_once")
        ]

    def __str__(self) -> str:
        return f"{self.statement_import_id}/{self.seq}"
