"""Figures: the checked-append and verify figures again on PostgreSQL, against the SQLite ones.

Measured when ``ACCORD_BENCH_POSTGRES`` (or else ``ACCORD_TEST_POSTGRES``)
names a server, ``postgresql://USER@HOST:PORT/DBNAME``; skipped, saying so,
otherwise. Every store is a fresh schema of that database, created for the
run and dropped when it ends. The PostgreSQL ledgers are copies of the
SQLite ones, entry for entry, so both backends verify the same bytes. No
goal: the figures say what the shared deployment costs against the file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from ledger.store_sql import SqlStore

from bench.appends import measure_checked_appends, sqlite_checked_appends
from bench.context import Bench
from bench.ledgers import SyntheticLedger, big_ledger, copy_ledger, small_ledger
from bench.report import Figure, Outcome, Skipped
from bench.verifying import verify_parameters, verify_rate, verify_run

SERVER_VARIABLES = ("ACCORD_BENCH_POSTGRES", "ACCORD_TEST_POSTGRES")
NO_SERVER = "no PostgreSQL server: set ACCORD_BENCH_POSTGRES (or ACCORD_TEST_POSTGRES) to postgresql://USER@HOST:PORT/DBNAME"


def server(environ: Mapping[str, str] = os.environ) -> str | None:
    """The server's URL without any query (``?schema=`` is the bench's to choose), or None."""
    for variable in SERVER_VARIABLES:
        if environ.get(variable):
            parts = urlsplit(environ[variable])
            return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return None


def fresh_store(bench: Bench, base: str, label: str) -> SqlStore:
    """A store in a new schema of ``base``'s database, closed and its schema dropped when the run ends."""
    schema = f"accord_bench_{label}_{secrets.token_hex(4)}"
    # Registered first, so run last: the store's connections are closed before the drop.
    bench.at_exit(lambda: _drop_schema(base, schema))
    store = SqlStore(f"{base}?schema={schema}")
    bench.keep(store)
    return store


def _drop_schema(base: str, schema: str) -> None:
    import psycopg
    from psycopg.sql import SQL, Identifier

    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))


def postgres_big_ledger(bench: Bench, base: str) -> SyntheticLedger:
    """The big SQLite ledger copied entry for entry into a fresh PostgreSQL schema, made on first use."""

    def build() -> SyntheticLedger:
        source = big_ledger(bench)
        store = fresh_store(bench, base, "verify")
        return copy_ledger(source, store, source.size, bench)

    return bench.fixture("ledger-big-postgres", build)


def append_checked_postgres(bench: Bench) -> Outcome:
    """``append.sqlite.checked-one-per-tx`` on PostgreSQL: one statement per ``Ledger.append``, every check, against SQLite's rate.

    The parameters hold PostgreSQL's own raw insert rate of the same bytes,
    one per transaction, the figure's SQLite-style baseline.
    """
    name = "append.postgres.checked-one-per-tx"
    base = server()
    if base is None:
        return Skipped(name, NO_SERVER)
    sqlite = sqlite_checked_appends(bench)
    source = small_ledger(bench, bench.sizes.reads_baseline_entries)
    found = measure_checked_appends(bench, source, fresh_store(bench, base, "append"), fresh_store(bench, base, "raw"))
    return Figure(
        name=name,
        value=found.accord_rate,
        unit="appends/s",
        about=f"Ledger.append of signed statements, one per call, through the rules and views, onto {source.size:,} entries, PostgreSQL",
        baseline=sqlite.accord_rate,
        baseline_about="append.sqlite.checked-one-per-tx: the same on a SQLite file",
        parameters={**found.parameters, "raw_appends_per_second": round(found.raw_rate), "server": _host(base)},
    )


def verify_postgres_openssl(bench: Bench) -> Outcome:
    """``verify.sqlite`` on PostgreSQL: a full ``accord verify`` of the same entries, against SQLite's rate."""
    name = "verify.postgres.openssl"
    base = server()
    if base is None:
        return Skipped(name, NO_SERVER)
    ledger = postgres_big_ledger(bench, base)
    run = verify_run(bench, ledger)
    return Figure(
        name=name,
        value=ledger.size / run.seconds,
        unit="entries/s",
        about=f"accord verify (signatures, rules, views, root) of {ledger.size:,} synthetic entries, PostgreSQL, {os.cpu_count()} CPUs",
        baseline=verify_rate(bench, big_ledger(bench)),
        baseline_about="verify.sqlite: the same on a SQLite file",
        parameters={**verify_parameters(ledger, run), "server": _host(base), **{f"copy_{k}_seconds": round(v, 2) for k, v in ledger.seconds.items()}},
    )


def _host(url: str) -> str:
    """Where the server is, without user or password."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"
