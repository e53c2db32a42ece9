"""Load the demo world: organisations and users (devdata.world), then cases in every stage
(devdata.stories). Running it again changes nothing.

The demo users sign in with a published password, so the command is for development: with
DEBUG off it refuses, unless given ``--force``, and then the admin superuser never gets the
published password.
"""

import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from devdata.stories import build_demo_cases
from devdata.world import DEMO_PASSWORD, build_demo_world
from funds import acting_time
from funds.services.sweep import sweep


class Command(BaseCommand):
    help = (
        f"Load the demo world (idempotent). Demo users sign in with {DEMO_PASSWORD}. For "
        "development: refuses to run while DEBUG is off unless given --force; with --force and "
        "DEBUG off, the admin superuser gets a random password instead, printed once when it "
        "is created."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="load the demo world even with DEBUG off; the admin superuser then gets a "
            "random password, printed once",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Checked before anything is read or written: with DEBUG off this may be production.
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off, and the demo users sign in with the published password "
                f"{DEMO_PASSWORD}: nothing was loaded. Set DEBUG=1 for development, or pass "
                "--force (the admin superuser then gets a random password, printed once)."
            )
        admin_password = DEMO_PASSWORD if settings.DEBUG else secrets.token_urlsafe(16)
        orgs, created = build_demo_world(admin_password=admin_password)
        cases = build_demo_cases()
        # Raise the flags the demo history calls for at once, rather than at the first beat.
        sweep(acting_time.now())
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo world ready: {len(orgs)} organisations, {created} users created, "
                f"{cases} demo cases created."
            )
        )
        if not settings.DEBUG:
            # Only an admin created just now can have the fresh random password.
            admin = User.objects.filter(username="admin").first()
            if admin is not None and admin.check_password(admin_password):
                self.stdout.write(
                    f"The admin superuser's password, shown only this once: {admin_password}"
                )
