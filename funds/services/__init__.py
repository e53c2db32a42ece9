"""Every change of state in funds goes through a function here (CONVENTIONS.md)."""
