"""The SQL adapter against the eventsourcing version it was written for: what it takes from the
library beyond its public API behaves as the adapter needs (ledger/store_sql.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import StorageError
from ledger.log import Log
from ledger.merkle import CompactRange, inclusion_plan
from ledger.store import LOG_STREAM, AppendConflict, LogStore, StoredEntry
from ledger.store_memory import MemoryStore
from ledger.store_sql import SqlStore

ROOT = Path(__file__).resolve().parents[2]
PRIVATE = re.compile(r"_insert_events|_insert_stored_events|\.datastore|select_events_statement")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def log(sql_url: str) -> Iterator[Log]:
    with LogStore(sql_url) as store:
        yield Log(store, clock=lambda: 1_800_000_000)


def test_the_adapter_is_written_for_eventsourcing_9_5() -> None:
    assert version("eventsourcing").startswith("9.5."), "re-check ledger/store_sql.py's use of the library's internals"


def test_only_the_sql_adapter_reaches_past_the_library_public_api() -> None:
    reaching = sorted(
        str(path.relative_to(ROOT))
        for package in ("ledger", "projections", "cli", "server")
        for path in (ROOT / package).rglob("*.py")
        if PRIVATE.search(path.read_text(encoding="utf-8"))
    )
    assert reaching == ["ledger/store_sql.py"]


def test_every_adapter_implements_the_whole_interface() -> None:
    interface = [name for name, member in vars(LogStore).items() if callable(member) and not name.startswith("__") and name not in ("append", "exists")]
    assert len(interface) == 11
    for adapter in (SqlStore, MemoryStore):
        assert [name for name in interface if getattr(adapter, name) is getattr(LogStore, name)] == [], adapter


def test_a_url_opens_its_backend_adapter(sql_url: str) -> None:
    with LogStore(sql_url) as store, LogStore("memory:") as memory:
        assert isinstance(store, SqlStore) and isinstance(memory, MemoryStore)
        assert store.dialect.sql("SELECT ? FROM {t}x") in ("SELECT ? FROM x", f'SELECT %s FROM "{sql_url.rsplit("=", 1)[-1]}".x')


def test_the_private_insert_commits_and_rolls_back_with_our_transaction(log: Log) -> None:
    store = log.store
    log.append(["first\n"])
    with store.transaction() as cursor:
        cursor.execute(store.dialect.sql("CREATE TABLE IF NOT EXISTS {t}beside (n BIGINT)"))

    def write(cursor: Any) -> bool:
        cursor.execute(store.dialect.sql("INSERT INTO {t}beside (n) VALUES (?)"), (7,))
        return True

    def write_then_fail(cursor: Any) -> bool:
        write(cursor)
        raise StorageError("test", "the other table refused")

    with pytest.raises(StorageError, match="^test: the other table refused$"):
        log.append(["lost\n"], also=lambda cursor, entries: write_then_fail(cursor) and None)
    assert log.size == 1
    assert log.append(["second\n"], also=lambda cursor, entries: write(cursor) and None)[0].index == 1
    with store.transaction(commit=False) as cursor:
        cursor.execute(store.dialect.sql("SELECT COUNT(*) AS n FROM {t}beside"))
        assert int(cursor.fetchone()["n"]) == 1
        cursor.execute(store.dialect.sql("UPDATE {t}beside SET n = 8 WHERE n = ?"), (7,))
        assert cursor.rowcount == 1  # the views' compare-and-set of their position reads it
        cursor.execute(store.dialect.sql("UPDATE {t}beside SET n = 9 WHERE n = ?"), (7,))
        assert cursor.rowcount == 0


def test_a_taken_version_inside_our_transaction_is_an_append_conflict(log: Log) -> None:
    log.append(["first\n"])
    stored = log.store.entry(0)
    assert stored is not None
    with pytest.raises(AppendConflict, match=r"^store: version 0 is taken$"):
        log.store.append([stored], rows=lambda cursor: True)
    with pytest.raises(AppendConflict, match=r"^store: version 0 is taken$"):
        log.store.append([stored])


def test_our_sql_reads_the_rows_the_library_wrote(log: Log) -> None:
    for n in range(37):
        log.append([f"statement {n}\n"])
    store = log.store
    assert isinstance(store, SqlStore)
    events = store.recorder.select_events(LOG_STREAM)
    assert [StoredEntry.from_state(e.originator_version, bytes(e.state)).data for e in events] == list(store.entry_data(page=5))
    ids = CompactRange.frontier_ids(37)
    assert store.read_nodes(ids) == [StoredEntry.from_state(((i + 1) << lv) - 1, bytes(events[((i + 1) << lv) - 1].state)).nodes[lv] for lv, i in ids]


def test_a_proof_reads_its_nodes_in_one_query(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    log.append([f"statement {n}\n" for n in range(1000)])
    store = log.store
    assert isinstance(store, SqlStore)
    queries: list[str] = []
    rows = store._plain_rows
    monkeypatch.setattr(store, "_plain_rows", lambda where, parameters: queries.append(where) or rows(where, parameters))
    plan = inclusion_plan(517, 1000)
    assert len(store.read_nodes(plan.ids)) == len(plan.ids) > 5
    assert len(queries) == 1 and queries[0].startswith("originator_version IN (")


def test_a_missing_node_is_named(log: Log) -> None:
    log.append(["only\n"])
    with pytest.raises(StorageError, match=r"^store: merkle node \(1, 0\) is missing: no entry 1$"):
        log.store.read_nodes([(0, 0), (1, 0)])
