"""Load the demo world: organisations and users (devdata.world), then cases in every stage
(devdata.stories). Running it again changes nothing."""

from typing import Any

from django.core.management.base import BaseCommand

from devdata.stories import build_demo_cases
from devdata.world import DEMO_PASSWORD, build_demo_world
from funds import clock
from funds.services.sweep import sweep


class Command(BaseCommand):
    help = f"Load the demo world (idempotent). Demo users sign in with {DEMO_PASSWORD}."

    def handle(self, *args: Any, **options: Any) -> None:
        orgs, created = build_demo_world()
        cases = build_demo_cases()
        # Raise the flags the demo history calls for at once, rather than at the first beat.
        sweep(clock.now())
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo world ready: {len(orgs)} organisations, {created} users created, "
                f"{cases} demo cases created."
            )
        )
