"""Statement imports (docs/imports.md): a file read row by row, checked whole, streamed into
PostgreSQL by COPY and written set-based, all or nothing.

``statement_import_create`` stores the upload (in chunks, in the database) as a queued
import; ``statement_import_run`` processes it, inline for a small file or in the Celery
task ``funds.tasks.run_statement_import`` for a large one. The run reads the file once,
under the case's lock, in one transaction: each converted row is streamed by COPY into a
temporary table, and a clean file is then written by a fixed set of statements (the
duplicates dropped, the accounts upserted, the transfers inserted: a constant number of
queries whatever the rows). The first invalid row stops the streaming while the reading
goes on to list every error; at the end, any error (or a dry run) rolls the whole
transaction back, so a file with one bad row writes nothing.

A row whose paying institution and reference (交易流水号) are in the case already is
skipped, whether an earlier import or an earlier row of the same file put them there.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization, Role, User
from funds.access import case_in_scope, require_role
from funds.errors import InvalidState, RuleViolation
from funds.models import (
    Case,
    EventType,
    ImportStatus,
    StatementFileChunk,
    StatementImport,
)
from funds.services.audit import new_event, record_events
from funds.services.cases import lock_case, require_open
from funds.services.layers import layers_derive
from funds.statements.institutions import InstitutionResolver
from funds.statements.readers import CHUNK, FileRefused, Row, read_rows
from funds.statements.templates import (
    HEADER_SEARCH_ROWS,
    TEMPLATES,
    Cells,
    Context,
    NotAMovement,
    RowInvalid,
    StatementTemplate,
    column_key,
    detect,
    refusal_message,
)

logger = logging.getLogger(__name__)

# Lines banks add below the data: totals, not movements.
TRAILERS = ("合计", "总计", "人民币合计", "小计")


@dataclass
class Outcome:
    rows: int = 0
    created: int = 0
    skipped: int = 0
    accounts_added: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    template: str = ""
    # Seconds spent in each phase of the run, in order (logged, and printed by bench/imports.py).
    phases: dict[str, float] = field(default_factory=dict)
    _lap: float = field(default_factory=time.perf_counter)

    def lap(self, phase: str) -> None:
        """Close ``phase``: the time since the previous lap is its."""
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self._lap
        self._lap = now

    def error(self, row: Row | None, column: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < settings.IMPORT_MAX_ERRORS_LISTED:
            entry: dict[str, Any] = {
                "row": row.number if row else None,
                "column": column,
                "message": message,
            }
            if row is not None and row.sheet:
                entry["sheet"] = row.sheet
            self.errors.append(entry)


class _RolledBack(Exception):
    pass


def progress_key(import_id: int) -> str:
    return f"statement-import:{import_id}:progress"


def import_progress(statement_import: StatementImport) -> int:
    """0-100: the live figure while it runs (kept in the cache, outside the transaction
    that writes the rows), else the stored one."""
    if statement_import.status == ImportStatus.RUNNING:
        live = cache.get(progress_key(statement_import.pk))
        if live is not None:
            return int(live)
    return statement_import.progress


# -- storing the upload -------------------------------------------------------------------


def _require_officer_of(actor: User, case: Case) -> None:
    require_role(actor, Role.OFFICER)
    if not case_in_scope(actor, case):
        raise Http404


def statement_import_create(
    *,
    actor: User,
    case: Case,
    upload: Iterable[bytes],
    file_name: str,
    template: str = "",
    institution_code: str = "",
    dry_run: bool = False,
) -> StatementImport:
    """Keep the uploaded file (``upload`` yields its bytes) as a queued import of the case."""
    _require_officer_of(actor, case)
    require_open(case)
    if template and template not in TEMPLATES:
        raise RuleViolation(
            _("Unknown template %(name)s; choose one of: %(names)s.")
            % {"name": template, "names": ", ".join(TEMPLATES)},
            field="template",
        )
    institution: Organization | None = None
    if institution_code.strip():
        institution = InstitutionResolver().find(institution_code)
        if institution is None:
            raise RuleViolation(
                _("No bank or payment institution has the code %(code)s.")
                % {"code": institution_code},
                field="institution",
            )
    with transaction.atomic():
        statement_import = StatementImport.objects.create(
            case=case,
            created_by=actor,
            file_name=file_name[:255],
            sha256="",
            size=0,
            template_requested=template,
            institution=institution,
            dry_run=dry_run,
        )
        digest, size, seq = hashlib.sha256(), 0, 0
        pending = bytearray()
        chunks: list[StatementFileChunk] = []

        def flush(data: bytes) -> None:
            nonlocal seq
            chunks.append(StatementFileChunk(statement_import=statement_import, seq=seq, data=data))
            seq += 1
            if len(chunks) >= 8:
                StatementFileChunk.objects.bulk_create(chunks)
                chunks.clear()

        for piece in upload:
            digest.update(piece)
            size += len(piece)
            if size > settings.IMPORT_MAX_BYTES:
                raise RuleViolation(
                    _("The file is larger than %(max)d bytes.")
                    % {"max": settings.IMPORT_MAX_BYTES},
                    field="file",
                )
            pending += piece
            while len(pending) >= CHUNK:
                flush(bytes(pending[:CHUNK]))
                del pending[:CHUNK]
        if not size:
            raise RuleViolation(_("The file is empty."), field="file")
        if pending:
            flush(bytes(pending))
        StatementFileChunk.objects.bulk_create(chunks)
        statement_import.sha256 = digest.hexdigest()
        statement_import.size = size
        statement_import.save(update_fields=["sha256", "size"])
    return statement_import


def _file_of(statement_import: StatementImport) -> IO[bytes]:
    """The stored file, copied to a temporary file chunk by chunk (openpyxl needs to seek)."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the caller
    for data in (
        StatementFileChunk.objects.filter(statement_import=statement_import)
        .order_by("seq")
        .values_list("data", flat=True)
        .iterator(chunk_size=1)
    ):
        spool.write(data)
    spool.seek(0)
    return spool


def estimated_rows(statement_import: StatementImport) -> int:
    """About how many rows the stored file holds: its line breaks for a CSV, the sheets'
    stated dimensions for a workbook (read without loading it)."""
    with _file_of(statement_import) as stream:
        head = stream.read(4)
        stream.seek(0)
        if head == b"PK\x03\x04":
            from openpyxl import load_workbook  # type: ignore[import-untyped]

            try:
                workbook = load_workbook(stream, read_only=True)
                total = sum(getattr(sheet, "max_row", 0) or 0 for sheet in workbook.worksheets)
                workbook.close()
            except Exception:  # the run reports an unreadable file
                return 0
            return total
        lines = 0
        while data := stream.read(CHUNK):
            lines += data.count(b"\n")
        return lines


def runs_inline(statement_import: StatementImport) -> bool:
    """Whether the import is small enough to run within the request."""
    if statement_import.size > settings.IMPORT_SYNC_MAX_BYTES:
        return False
    return estimated_rows(statement_import) <= settings.IMPORT_SYNC_MAX_ROWS


def statement_import_queue(statement_import: StatementImport) -> None:
    """Run the import in the Celery worker once the current transaction commits."""
    from funds.tasks import run_statement_import_task

    import_id = statement_import.pk
    transaction.on_commit(lambda: run_statement_import_task.delay(import_id))


def statement_import_commit(
    *, actor: User, statement_import: StatementImport, sha256: str
) -> StatementImport:
    """Turn a clean dry run into the import, without a second upload: the same stored file
    (named by its SHA-256, so that what is committed is what was previewed) runs again."""
    with transaction.atomic():
        locked = StatementImport.objects.select_for_update().get(pk=statement_import.pk)
        case = locked.case
        _require_officer_of(actor, case)
        if locked.sha256 != sha256:
            raise RuleViolation(_("This is not the file that was previewed."), field="sha256")
        if not locked.dry_run or locked.status != ImportStatus.DONE or locked.error_count:
            raise InvalidState(_("Only a preview without errors can be committed."))
        locked.dry_run = False
        locked.status = ImportStatus.QUEUED
        locked.created_by = actor
        locked.progress = 0
        locked.save(update_fields=["dry_run", "status", "created_by", "progress"])
    return locked


# -- running it ---------------------------------------------------------------------------


def statement_import_run(*, import_id: int) -> StatementImport:
    """Process a queued import; a no-op for one another worker claimed or that is done."""
    now = timezone.now()
    claimed = StatementImport.objects.filter(pk=import_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, started_at=now, progress=0
    )
    statement_import = StatementImport.objects.select_related("case", "created_by").get(
        pk=import_id
    )
    if not claimed:
        return statement_import
    cache.set(progress_key(import_id), 0, timeout=24 * 3600)
    try:
        outcome = _run(statement_import)
    except Exception:
        logger.exception("Statement import %s failed", import_id)
        outcome = Outcome()
        outcome.error(None, "file", _("The import failed unexpectedly; nothing was written."))
    statement_import.template = outcome.template
    statement_import.rows = outcome.rows
    statement_import.created = outcome.created
    statement_import.skipped = outcome.skipped
    statement_import.accounts_added = outcome.accounts_added
    statement_import.error_count = outcome.error_count
    statement_import.errors = outcome.errors
    statement_import.status = ImportStatus.FAILED if outcome.error_count else ImportStatus.DONE
    statement_import.progress = 100
    statement_import.finished_at = timezone.now()
    statement_import.save(
        update_fields=[
            "template", "rows", "created", "skipped", "accounts_added", "error_count",
            "errors", "status", "progress", "finished_at",
        ]
    )  # fmt: skip
    cache.delete(progress_key(import_id))
    logger.info(
        "Statement import %s: %s rows in %s",
        import_id,
        outcome.rows,
        ", ".join(f"{phase} {seconds:.3f}s" for phase, seconds in outcome.phases.items()),
    )
    statement_import.phases = outcome.phases  # type: ignore[attr-defined]
    return statement_import


def _run(statement_import: StatementImport) -> Outcome:
    outcome = Outcome()
    with _file_of(statement_import) as stream:
        outcome.lap("load the stored file")
        try:
            with transaction.atomic():
                case = lock_case(statement_import.case)
                require_open(case)
                _Writer(statement_import, case, outcome, stream).run()
                if outcome.error_count:
                    raise _RolledBack
                outcome.accounts_added = layers_derive(
                    actor=statement_import.created_by,
                    case_id=case.pk,
                    statement_import_id=statement_import.pk,
                ).added
                outcome.lap("derive layers, accounts join (with their events)")
                if statement_import.dry_run:
                    raise _RolledBack
                _record_import(statement_import, outcome)
                outcome.lap("audit the import")
            outcome.lap("commit (deferred foreign-key checks)")
        except _RolledBack:
            if outcome.error_count:  # nothing was written
                outcome.created = outcome.skipped = outcome.accounts_added = 0
        except FileRefused as refused:
            outcome.error(None, "file", str(refused))
        except InvalidState as error:
            outcome.error(None, "file", error.message)
    return outcome


def _record_import(statement_import: StatementImport, outcome: Outcome) -> None:
    record_events(
        [
            new_event(
                case_id=statement_import.case_id,
                type=EventType.STATEMENT_IMPORTED,
                actor=statement_import.created_by,
                statement_import=statement_import.pk,
                file_name=statement_import.file_name,
                sha256=statement_import.sha256,
                template=outcome.template,
                rows=outcome.rows,
                created=outcome.created,
                skipped=outcome.skipped,
                accounts_added=outcome.accounts_added,
            )
        ]
    )


# The rows of the file being imported, as converted: streamed in by COPY, then turned into
# accounts and transfers by a few set-based statements (a constant number of queries).
_CREATE_ROWS = """
CREATE TEMPORARY TABLE statement_import_rows (
    seq integer NOT NULL, occurred_at timestamptz NOT NULL,
    from_institution_id bigint NOT NULL, from_number text NOT NULL, from_holder text NOT NULL,
    to_institution_id bigint NOT NULL, to_number text NOT NULL, to_holder text NOT NULL,
    amount numeric(16, 2) NOT NULL, reference text NOT NULL
) ON COMMIT DROP
"""
_COPY_ROWS = """
COPY statement_import_rows (seq, occurred_at, from_institution_id, from_number, from_holder,
                   to_institution_id, to_number, to_holder, amount, reference) FROM STDIN
"""
# A row whose paying institution and reference are in the case already, or on an earlier
# row of the file, is skipped (the unique (case, paying account, reference) settles the rest).
_DROP_SEEN = """
WITH existing AS MATERIALIZED (
    SELECT t.reference, a.institution_id FROM funds_transfer t
    JOIN funds_bankaccount a ON a.id = t.from_account_id
    WHERE t.case_id = %s
)
DELETE FROM statement_import_rows r
USING (
    SELECT seq FROM (
        SELECT seq, row_number() OVER (
            PARTITION BY from_institution_id, reference ORDER BY seq
        ) AS n
        FROM statement_import_rows
    ) AS d
    WHERE n > 1
    UNION
    SELECT w.seq FROM statement_import_rows w
    JOIN existing e ON e.reference = w.reference AND e.institution_id = w.from_institution_id
) AS seen
WHERE r.seq = seen.seq
"""
# Every account of the rows, created where new, in one statement (as
# funds.services.cases.bank_account_get_or_create would, one by one). The unique
# (institution, number) settles a race with a concurrent import or a hand-typed account:
# ON CONFLICT waits for the other's row; the sorted order keeps two imports from deadlocking.
_UPSERT_ACCOUNTS = """
INSERT INTO funds_bankaccount (institution_id, number)
SELECT institution_id, number FROM (
    SELECT from_institution_id, from_number FROM statement_import_rows
    UNION
    SELECT to_institution_id, to_number FROM statement_import_rows
) AS w(institution_id, number)
ORDER BY institution_id, number
ON CONFLICT (institution_id, number) DO NOTHING
"""
_INSERT_TRANSFERS = """
INSERT INTO funds_transfer (
    case_id, from_account_id, to_account_id, from_holder_name, to_holder_name,
    amount, occurred_at, reference, statement_import_id, created_by_id, created_at
)
SELECT %s, f.id, t.id, r.from_holder, r.to_holder, r.amount, r.occurred_at, r.reference,
       %s, %s, now()
FROM statement_import_rows r
JOIN funds_bankaccount f ON f.institution_id = r.from_institution_id AND f.number = r.from_number
JOIN funds_bankaccount t ON t.institution_id = r.to_institution_id AND t.number = r.to_number
ORDER BY r.seq
ON CONFLICT (case_id, from_account_id, reference) DO NOTHING
"""


class _Writer:
    """Reads the rows and converts them, streaming them into a temporary table by COPY
    while none is wrong; at the end, writes the accounts and transfers set-based."""

    def __init__(
        self, statement_import: StatementImport, case: Case, outcome: Outcome, stream: IO[bytes]
    ) -> None:
        self.statement_import = statement_import
        self.case = case
        self.outcome = outcome
        self.stream = stream
        self.context = Context(InstitutionResolver(), statement_import.institution)
        self.size = max(1, statement_import.size)
        self.copy: Any = None
        self.written = 0

    def run(self) -> None:
        outcome = self.outcome
        requested = TEMPLATES.get(self.statement_import.template_requested)
        with connection.cursor() as cursor:
            cursor.execute(_CREATE_ROWS)
            # Django's cursor hands COPY to psycopg's (one statement, outside its query log).
            with cursor.copy(_COPY_ROWS) as copy:
                self.copy = copy
                for sheet, rows in _by_sheet(read_rows(self.stream)):
                    found = _find_header(rows, requested)
                    if isinstance(found, list):  # no header in this sheet: say what is missing
                        for column, message in found:
                            outcome.error(
                                None, column, message if not sheet else f"{sheet}: {message}"
                            )
                        continue
                    template, header = found
                    outcome.template = outcome.template or template.name
                    if not self._usable(template, header):
                        break
                    self._rows(template, header, rows)
            self.copy = None
            outcome.lap("read, parse, check and COPY the rows")
            if not outcome.template and not outcome.error_count:
                outcome.error(None, "file", _("The file holds no rows."))
            if not outcome.error_count and self.written:
                self._write(cursor)
            cursor.execute("DROP TABLE statement_import_rows")

    def _usable(self, template: StatementTemplate, header: list[str]) -> bool:
        outcome = self.outcome
        if template.refusal is not None:
            outcome.error(None, "file", refusal_message(template))
            return False
        missing = template.missing(set(header))
        for column in missing:
            outcome.error(
                None, column, _("The required column %(column)s is missing.") % {"column": column}
            )
        if template.needs_institution and self.context.institution is None:
            outcome.error(
                None,
                "institution",
                _("Say which bank or payment institution returned this statement (institution)."),
            )
            return False
        return not missing

    def _rows(self, template: StatementTemplate, header: list[str], rows: Iterator[Row]) -> None:
        outcome = self.outcome
        every = settings.IMPORT_BATCH_ROWS
        fast = template.fast(header, self.context)
        write_row = self.copy.write_row
        context = self.context
        count = 0
        for row in rows:
            cells = row.cells
            first = next((c for c in cells if c not in (None, "")), "")
            # A trailer is in Chinese: an ASCII first cell is none.
            if not (first.__class__ is str and first.isascii()) and column_key(first).startswith(
                TRAILERS
            ):
                continue
            outcome.rows += 1
            values = fast(cells) if fast is not None else None
            if values is None:
                try:
                    movement = template.convert(
                        Cells({name: cells[i] if i < len(cells) else None
                               for i, name in enumerate(header) if name}),
                        row.number,
                        context,
                    )  # fmt: skip
                except NotAMovement:
                    outcome.skipped += 1
                    continue
                except RowInvalid as invalid:
                    for column, message in invalid.problems:
                        outcome.error(row, column, message)
                    continue
                values = (
                    movement.occurred_at, movement.from_institution_id, movement.from_number,
                    movement.from_holder, movement.to_institution_id, movement.to_number,
                    movement.to_holder, movement.amount, movement.reference,
                )  # fmt: skip
            if values[1] == values[4] and values[2] == values[5]:
                outcome.error(row, "", _("A transfer needs two different accounts."))
                continue
            if outcome.error_count:
                continue  # nothing will be written: only look for further errors
            self.written += 1
            write_row((self.written, *values))
            count += 1
            if count >= every:
                count = 0
                self._progress()

    def _progress(self) -> None:
        try:
            position = self.stream.tell()
        except (OSError, ValueError):
            return
        cache.set(
            progress_key(self.statement_import.pk),
            min(99, position * 100 // self.size),
            timeout=24 * 3600,
        )

    def _write(self, cursor: Any) -> None:
        case_id = self.case.pk
        # The sorts and hashes of a large file fit in memory (for this transaction only).
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute("ANALYZE statement_import_rows")
        cursor.execute(_DROP_SEEN, [case_id])
        outcome = self.outcome
        outcome.skipped += cursor.rowcount
        fresh = self.written - cursor.rowcount
        outcome.lap("skip the rows already there")
        if not fresh:
            return
        cursor.execute(_UPSERT_ACCOUNTS)
        outcome.lap("upsert the accounts")
        cursor.execute(
            _INSERT_TRANSFERS,
            [case_id, self.statement_import.pk, self.statement_import.created_by_id],
        )
        outcome.created += cursor.rowcount
        outcome.skipped += fresh - cursor.rowcount
        outcome.lap("insert the transfers")


def _by_sheet(rows: Iterator[Row]) -> Iterator[tuple[str, Iterator[Row]]]:
    """The rows grouped by sheet, lazily (a CSV file is one sheet)."""
    pushed: list[Row] = []
    source = iter(rows)

    def sheet_rows(name: str) -> Iterator[Row]:
        while True:
            row = pushed.pop() if pushed else next(source, None)
            if row is None:
                return
            if row.sheet != name:
                pushed.append(row)
                return
            yield row

    while True:
        row = pushed.pop() if pushed else next(source, None)
        if row is None:
            return
        pushed.append(row)
        group = sheet_rows(row.sheet)
        yield row.sheet, group
        for _rest in group:  # whatever the consumer left of the sheet
            pass


def _find_header(
    rows: Iterator[Row], requested: StatementTemplate | None
) -> tuple[StatementTemplate, list[str]] | list[tuple[str, str]]:
    """The template and the header's column names, the preamble above it skipped; or, if
    no header is found near the top, what is missing from the row closest to one."""
    expected = requested or TEMPLATES["default"]
    best: tuple[int, set[str]] = (-1, set())
    for index, row in enumerate(rows):
        header = [column_key(c) for c in row.cells]
        names = set(header) - {""}
        template = (requested if requested.matches(names) else None) if requested else detect(names)
        if template is not None:
            return template, header
        score = len(names & set(expected.required))
        if score > best[0]:
            best = (score, names)
        if index + 1 >= HEADER_SEARCH_ROWS:
            break
    missing = expected.missing(best[1]) if best[0] > 0 else list(expected.required)
    return [
        (column, _("The required column %(column)s is missing.") % {"column": column})
        for column in missing
    ] or [("file", _("No header row was found."))]
