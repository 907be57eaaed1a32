"""``make bench``: Accord's speed figures, each next to a baseline measured in the same run.

A figure is one number with its unit (:class:`bench.report.Figure`). Where a
number means little alone it carries a baseline measured by the same process
a moment before or after, and their ratio: Accord's appends against the raw
``eventsourcing`` insert of the same bytes, a proof at 10^6 entries against
the same proof at 10^3. Ratios travel between machines; absolute numbers do
not.

Each figure is one function ``(Bench) -> Figure`` registered in
:mod:`bench.__main__`; costly set-up that several figures share (signed
statements, a log of a million entries) is a fixture built once per run.
"""
