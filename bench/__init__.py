"""``make bench``: Accord's speed figures, each next to a baseline measured in the same run.

A figure is one number with its unit (:class:`bench.report.Figure`). Where a
number means little alone it carries a baseline measured by the same process
a moment before or after, and their ratio: Accord's appends against the raw
``eventsourcing`` insert of the same bytes, a proof at 10^6 entries against
the same proof at 10^3, a full ``accord verify`` against the machine's raw
Ed25519 rate. Ratios travel between machines; absolute numbers do not.
Where issue #6 sets a goal, the figure carries it (``ratio_limit`` or
``ratio_floor``) and a missed goal makes the run exit 1, each miss named on
a line of its own.

Each figure is one function ``(Bench) -> Figure`` registered in
:mod:`bench.__main__`; costly set-up that several figures share (signed
statements, a log of a million entries, the synthetic ledger) is a fixture
built once per run.

Settings, from the environment:

``BENCH_ENTRIES``
    the synthetic ledger's size (default 10^5; 5,000 with ``--quick``);
    1000000 for the issue's decades of decisions
``BENCH_PROOF_ENTRIES``
    the big proof log's size (default 10^6)
``ACCORD_BENCH_POSTGRES`` (else ``ACCORD_TEST_POSTGRES``)
    a PostgreSQL server, ``postgresql://USER@HOST:PORT/DBNAME``, for the
    ``*.postgres.*`` figures, which are skipped without one
"""
