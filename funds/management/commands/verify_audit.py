"""Check the global audit chain (docs/audit.md): exit 0 when intact, 1 naming the first
event that does not match."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from funds.services.audit_chain import audit_chain_check, audit_chain_verify


class Command(BaseCommand):
    help = (
        "Recompute every link of the audit chain (case and security events) and name the "
        "first event that was changed, removed or inserted behind the application."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from-seq", type=int, default=1, help="first position (default 1)")
        parser.add_argument("--to-seq", type=int, help="last position (default: the end)")
        parser.add_argument(
            "--record",
            action="store_true",
            help="record the outcome as the periodic task does (alarm and mail when broken)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        lo, hi = options["from_seq"], options["to_seq"]
        if lo < 1 or (hi is not None and hi < lo):
            raise CommandError("--from-seq must be at least 1, and --to-seq not below it.")
        if options["record"]:
            if lo != 1 or hi is not None:
                raise CommandError("--record checks the whole chain: give no range.")
            check = audit_chain_check()
            ok, checked, last, problem = check.ok, check.checked, check.head_seq, check.problem
        else:
            report = audit_chain_verify(from_seq=lo, to_seq=hi)
            ok, checked, last, problem = report.ok, report.checked, report.last_seq, report.problem
        if not ok:
            self.stderr.write(f"Audit chain BROKEN after {checked} intact events: {problem}")
            raise SystemExit(1)
        self.stdout.write(
            f"Audit chain intact: {checked} events checked"
            + (f", up to position {last}." if last is not None else ".")
        )
