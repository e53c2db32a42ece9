"""The audit event types: one list, the same in the model, the timeline and the docs."""

import re
from pathlib import Path

from funds.models import Event, EventType
from funds.templatetags.funds_tags import event_label

LIFECYCLE = Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md"


def documented_types() -> list[str]:
    """The types named in the first column of the table under "## Audit events"."""
    section = LIFECYCLE.read_text(encoding="utf-8").split("## Audit events", 1)[1]
    section = section.split("\n## ", 1)[0]
    types: list[str] = []
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) > 2 and not set(cells[1].strip()) <= {"-"}:
            types += re.findall(r"`([a-z_]+)`", cells[1])
    return types


def test_the_docs_table_lists_exactly_the_event_types():
    documented = documented_types()
    assert len(documented) == len(set(documented)), "a type is documented twice"
    assert sorted(documented) == sorted(EventType.values)


def test_the_model_takes_its_choices_from_the_event_types():
    assert Event._meta.get_field("type").choices == EventType.choices


def test_every_event_type_has_a_timeline_label_of_its_own():
    labels = {t: event_label(t) for t in EventType.values}
    assert all(label != t for t, label in labels.items())
    assert len(set(labels.values())) == len(labels)
    assert event_label("unknown_type") == "unknown_type"
