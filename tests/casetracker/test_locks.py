"""The hashed lock files that `make` installs from agree with requirements*.txt."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;#]+)")


def name(raw: str) -> str:
    return re.sub(r"[-_.]+", "-", raw).lower()


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        if line.startswith("-r "):
            found.update(pins(path.parent / line.split()[1]))
        elif match := PIN.match(line.strip()):
            found[name(match[1])] = match[2]
    return found


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of a pip-compile lock."""
    text = path.read_text()
    entries = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        if match := PIN.match(block):
            entries[name(match[1])] = (match[2], block.count("--hash=sha256:"))
    return entries


@pytest.mark.parametrize("stem", ["requirements", "requirements-demo", "requirements-dev"])
def test_each_lock_pins_what_its_requirements_file_chose_with_hashes(stem):
    chosen = pins(ROOT / f"{stem}.txt")
    lock = locked(ROOT / f"{stem}.lock")
    assert chosen, stem
    stale = {
        n: (v, lock.get(n, ("missing", 0))[0])
        for n, v in chosen.items()
        if lock.get(n, ("",))[0] != v
    }
    assert stale == {}, f"run `make lock`: {stem}.lock differs from {stem}.txt: {stale}"
    assert all(count >= 1 for _version, count in lock.values()), "every package has its hash"
    # The lock is complete: more packages than were chosen (their dependencies too).
    assert len(lock) > len(chosen)
