"""The paper a bank acts on: instrument numbers and the issued documents (docs/documents.md)."""

import string

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from funds.models.instructions import InstructionKind

# The names a numbering pattern may use, e.g. "济历公(刑)冻财字〔{year}〕{number:05d}号".
PATTERN_FIELDS = frozenset({"year", "number", "unit_code"})


def validate_pattern(pattern: str) -> None:
    """A pattern names ``{number}`` once, and otherwise only ``{year}`` and ``{unit_code}``."""
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ValidationError(
            _("The pattern is not well formed: %(error)s"), params={"error": exc}
        ) from exc
    names = [name for _text, name, _spec, _conversion in parts if name is not None]
    unknown = sorted(set(names) - PATTERN_FIELDS)
    if unknown:
        raise ValidationError(
            _("The pattern may name only {year}, {number} and {unit_code}, not %(names)s."),
            params={"names": ", ".join("{" + name + "}" for name in unknown)},
        )
    if names.count("number") != 1:
        raise ValidationError(_("The pattern must name {number} exactly once."))
    try:
        pattern.format(year=2026, number=1, unit_code="370102")
    except (ValueError, IndexError, KeyError) as exc:
        raise ValidationError(
            _("The pattern cannot be filled in: %(error)s"), params={"error": exc}
        ) from exc


class InstrumentSeries(models.Model):
    """How a police unit numbers the instruments of one kind that it issues; set by an
    administrator. A unit without a series of a kind uses INSTRUMENT_DEFAULT_PATTERNS."""

    unit = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.PROTECT,
        related_name="instrument_series",
        verbose_name=_("issuing unit"),
        limit_choices_to={"kind": "police"},
    )
    kind = models.CharField(_("kind"), max_length=16, choices=InstructionKind.choices)
    pattern = models.CharField(
        _("numbering pattern"),
        max_length=80,
        validators=[validate_pattern],
        help_text=_(
            "For example 济历公(刑)冻财字〔{year}〕{number:05d}号: {year} is the year of issue, "
            "{number} the running number of the unit, kind and year, {unit_code} the unit's code."
        ),
    )

    class Meta:
        verbose_name = _("instrument numbering")
        verbose_name_plural = _("instrument numberings")
        constraints = [
            models.UniqueConstraint(fields=["unit", "kind"], name="instrument_series_unit_kind")
        ]

    def __str__(self) -> str:
        return f"{self.unit} · {self.get_kind_display()}: {self.pattern}"


class InstrumentCounter(models.Model):
    """The last running number issued per unit, kind and year; its row lock, held until the
    issuing transaction ends, keeps the numbers consecutive (a rolled-back issue gives its
    number back)."""

    unit = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=InstructionKind.choices)
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["unit", "kind", "year"], name="instrument_counter_unit_kind_year"
            )
        ]

    def __str__(self) -> str:
        return f"{self.unit_id}/{self.kind}/{self.year}: {self.last}"


class Document(models.Model):
    """The issued instrument of an instruction, byte for byte as first rendered: what the bank
    downloads, what ``document_sha256`` hashes and what the audit event of its issue names."""

    instruction = models.OneToOneField(
        "funds.Instruction", on_delete=models.PROTECT, related_name="document"
    )
    instrument_number = models.CharField(_("legal instrument number"), max_length=64)
    issued_at = models.DateTimeField(_("issued at"))
    pdf = models.BinaryField(_("PDF"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveIntegerField(_("size in bytes"))

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        constraints = [
            models.CheckConstraint(condition=Q(size__gt=0), name="document_not_empty"),
            models.CheckConstraint(
                condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="document_sha256_hex"
            ),
        ]

    def __str__(self) -> str:
        return self.instrument_number
