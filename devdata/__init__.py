"""Development data: the demo world of API.md and the generated provinces for benchmarks.

A dev-only app, kept out of the product apps: it imports ``accounts`` and ``funds``, and
nothing in them imports it.
"""
