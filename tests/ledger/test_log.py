"""One storage test suite, run against every backend (memory, SQLite file, PostgreSQL)."""

from __future__ import annotations

import multiprocessing
from urllib.parse import quote
from collections.abc import Iterable, Iterator, Sequence

import pytest

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.entry import MAX_ENTRY_BYTES, Entry
from ledger.errors import MalformedError, ProofError, RuleViolation, StorageError
from ledger.keys import Signer
from ledger.log import Log, LogHead
from ledger.merkle import MemoryTree, verify_consistency, verify_inclusion
from ledger.note import Note
from ledger.store import Store, store_environment
from ledger.tlog_proof import verify_tlog_proof

OPERATOR = Signer.from_seed("accord.test/log", bytes(range(32)))


class Ticker:
    """A clock the test controls: seconds since the epoch, moved by hand."""

    def __init__(self, start: int = 1_800_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def log(store_url: str) -> Iterator[Log]:
    with Store(store_url) as store:
        yield Log(store, clock=Ticker())


def statement(n: int) -> str:
    return f"statement {n}\n\n— someone AAAA{n:08d}\n"


def tree_of(entries: Iterable[Entry]) -> MemoryTree:
    """The tree recomputed from scratch, from the entries' bytes alone."""
    tree = MemoryTree()
    for entry in entries:
        tree.append(entry.to_bytes())
    return tree


def append_n(log: Log, count: int) -> None:
    for n in range(count):
        log.append([statement(n)])


def test_appended_entries_get_consecutive_indexes_from_zero(log: Log) -> None:
    first = log.append([statement(0)])
    rest = log.append([statement(1), statement(2)])
    assert [entry.index for entry in first + rest] == [0, 1, 2]
    assert [entry.statement for entry in log.entries()] == [statement(0), statement(1), statement(2)]
    assert log.size == 3
    assert log.entry(1).statement == statement(1)


def test_logged_at_never_decreases_when_the_clock_goes_back(log: Log) -> None:
    clock = log.clock
    assert isinstance(clock, Ticker)
    log.append([statement(0)])
    clock.now -= 3_600
    assert log.append([]) == []  # appending nothing must not lose the head's time
    log.append([statement(1)])
    first, second = log.entries()
    assert second.logged_at == first.logged_at


def test_refused_statement_leaves_the_log_untouched(log: Log) -> None:
    append_n(log, 3)
    root = log.head().root

    def refuse(head: LogHead, entries: Sequence[Entry]) -> None:
        raise RuleViolation("test.refused", f"entry {entries[0].index} refused at size {head.size}")

    with pytest.raises(RuleViolation, match=r"^test\.refused: entry 3 refused at size 3$"):
        log.append([statement(3)], check=refuse)
    assert log.size == 3
    assert log.head().root == root


def test_oversized_entry_is_refused_and_nothing_is_appended(log: Log) -> None:
    append_n(log, 1)
    with pytest.raises(MalformedError, match=r"^entry: too large: got \d+ bytes, want at most 65535$"):
        log.append([statement(1), "x" * MAX_ENTRY_BYTES])
    assert log.size == 1


def test_a_batch_is_appended_all_or_none(log: Log) -> None:
    def refuse_third(head: LogHead, entries: Sequence[Entry]) -> None:
        if len(entries) >= 3:
            raise RuleViolation("test.refused", "third entry refused")

    with pytest.raises(RuleViolation):
        log.append([statement(0), statement(1), statement(2)], check=refuse_third)
    assert log.size == 0


def test_lost_race_is_retried_against_the_new_head(store_url: str) -> None:
    if store_url == "memory:":
        pytest.skip("two memory stores share nothing: there is no race to lose")
    with Store(store_url) as store_a, Store(store_url) as store_b:
        ours, theirs = Log(store_a, clock=Ticker()), Log(store_b, clock=Ticker())
        append_n(ours, 2)
        seen: list[int] = []

        def check_while_another_writer_appends(head: LogHead, entries: Sequence[Entry]) -> None:
            seen.append(head.size)
            if len(seen) == 1:
                theirs.append(["the other writer was faster\n"])

        appended = ours.append([statement(2)], check=check_while_another_writer_appends)
        assert seen == [2, 3]
        assert appended[0].index == 3
        assert [entry.statement for entry in ours.entries()][2:] == ["the other writer was faster\n", statement(2)]
        assert ours.head().root == tree_of(ours.entries()).root()


def test_refusal_judged_against_a_head_another_writer_moved_on_is_judged_again(store_url: str) -> None:
    # An append first follows the head its Log left, without reading it back;
    # a refusal by a check that saw a stale head must not be final.
    if store_url == "memory:":
        pytest.skip("two memory stores share nothing: there is no race to lose")
    with Store(store_url) as store_a, Store(store_url) as store_b:
        ours, theirs = Log(store_a, clock=Ticker()), Log(store_b, clock=Ticker())
        append_n(ours, 2)
        theirs.append(["the entry the check needs\n"])
        seen: list[int] = []

        def needs_entry_2(head: LogHead, entries: Sequence[Entry]) -> None:
            seen.append(head.size)
            if head.size < 3:
                raise RuleViolation("test.needs", "entry 2 is not there yet")

        appended = ours.append([statement(3)], check=needs_entry_2)
        assert seen == [2, 3]
        assert appended[0].index == 3


def test_refusal_against_the_stored_head_is_judged_once(store_url: str) -> None:
    with Store(store_url) as store:
        log = Log(store, clock=Ticker())
        append_n(log, 2)
        seen: list[int] = []

        def refuse(head: LogHead, entries: Sequence[Entry]) -> None:
            seen.append(head.size)
            raise RuleViolation("test.refused", "never")

        with pytest.raises(RuleViolation):
            log.append([statement(2)], check=refuse)
        assert seen == [2] and log.size == 2


def test_what_commits_with_an_append_rolls_it_back_when_it_fails(store_url: str) -> None:
    # A memory store writes the other tables in a private database first and rolls them back when its insert fails.
    with Store(store_url) as store:
        log = Log(store, clock=Ticker())
        append_n(log, 1)

        def fail(cursor: object, entries: Sequence[Entry]) -> None:
            raise StorageError("test", "the other table refused")

        with pytest.raises(StorageError, match="the other table refused"):
            log.append([statement(1)], also=fail)
        assert log.size == 1
        assert [entry.index for entry in log.append([statement(1)])] == [1]
        assert log.head().root == tree_of(log.entries()).root()


def test_verified_bytes_are_appended_as_they_are_only_where_they_extend_the_log(store_url: str) -> None:
    with Store(store_url) as source_store, Store("memory:") as copy_store:
        source, copy = Log(source_store, clock=Ticker()), Log(copy_store)
        append_n(source, 5)
        datas = [entry.to_bytes() for entry in source.entries()]
        copy.append_verified(0, datas[:2])
        with pytest.raises(StorageError, match=r"^log: entry index 3 does not extend the log of size 2$"):
            copy.append_verified(3, datas[3:])
        assert copy.size == 2
        copy.append_verified(2, datas[2:])
        assert [entry.to_bytes() for entry in copy.entries()] == datas
        assert copy.head().root == source.head().root
        assert copy.append([statement(5)])[0].index == 5  # the head is read back after bytes it did not parse


def test_entry_data_reads_the_bytes_the_library_reads_page_by_page(log: Log) -> None:
    # entry_data bypasses the library's select on SQLite and PostgreSQL: it
    # must give the same bytes, without the node hashes stored in front.
    append_n(log, 37)
    store = log.store
    everything = [stored.data for stored in store.entries()]
    assert everything == [entry.to_bytes() for entry in log.entries()]
    assert list(store.entry_data(page=5)) == everything
    assert list(store.entry_data(3, 31, page=4)) == everything[3:31]
    assert list(store.entry_data(36)) == everything[36:] and list(store.entry_data(37)) == []


def test_stored_tree_agrees_with_an_in_memory_tree_at_every_size(log: Log) -> None:
    reference = MemoryTree()
    for n in range(40):
        entry = log.append([statement(n)])[0]
        reference.append(entry.to_bytes())
    for size in range(41):
        assert log.root_at(size) == reference.root_at(size)
    for size in (1, 7, 32, 40):
        for index in range(size):
            proof = log.inclusion_proof(index, size)
            assert proof == reference.inclusion_proof(index, size)
            verify_inclusion(index, size, log.entry(index).leaf_hash(), proof, reference.root_at(size))
        for size1 in range(1, size + 1):
            proof = log.consistency_proof(size1, size)
            verify_consistency(size1, size, reference.root_at(size1), reference.root_at(size), proof)


def test_proof_beyond_the_log_is_refused(log: Log) -> None:
    append_n(log, 3)
    with pytest.raises(ProofError, match=r"^log: tree size 4 is beyond the log's size 3$"):
        log.inclusion_proof(0, 4)


def test_log_survives_reopening(store_url: str) -> None:
    if store_url == "memory:":
        pytest.skip("the memory store lives only as long as its process")
    with Store(store_url) as store:
        log = Log(store, clock=Ticker())
        append_n(log, 5)
        root = log.head().root
    with Store(store_url) as store:
        reopened = Log(store, clock=Ticker())
        assert reopened.size == 5
        assert reopened.head().root == root
        reopened.append([statement(5)])
        assert reopened.head().root == tree_of(reopened.entries()).root()


def test_checkpoint_is_published_once_per_size_and_receipts_verify(log: Log) -> None:
    with pytest.raises(ProofError, match=r"^log: no checkpoint covers entry 0 yet; publish one first$"):
        log.receipt(0)
    append_n(log, 5)
    note = log.publish_checkpoint(OPERATOR)
    assert log.publish_checkpoint(OPERATOR) == note
    checkpoint, _ = open_checkpoint(note.to_text(), OPERATOR.verifier_key())
    assert checkpoint == Checkpoint(OPERATOR.name, 5, log.root_at(5))
    for index in range(5):
        receipt = log.receipt(index)
        leaf = log.entry(index).leaf_hash()
        assert verify_tlog_proof(receipt, leaf, OPERATOR.verifier_key()) == checkpoint
    append_n(log, 1)
    assert Checkpoint.from_text(log.publish_checkpoint(OPERATOR).text).size == 6


def test_unknown_store_url_is_refused() -> None:
    with pytest.raises(StorageError, match=r"^store: unknown store URL 'mysql://x/y': want sqlite:///FILE, postgresql://HOST/DB or memory:$"):
        Store("mysql://x/y")


def test_sqlite_url_without_a_file_is_refused() -> None:
    with pytest.raises(StorageError, match=r"^store: want sqlite:///FILE or sqlite:////ABSOLUTE/FILE, got 'sqlite://'$"):
        Store("sqlite://")


def _append_from_another_process(url: str, worker: int, count: int) -> None:
    with Store(url) as store:
        log = Log(store)
        for n in range(count):
            log.append([f"worker {worker} statement {n}\n"])
            if n % 50 == 49:
                log.publish_checkpoint(OPERATOR)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_processes_appending_500_each_leave_1000_entries_without_gaps(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    with Store(url):
        pass  # creates the tables before the race
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_from_another_process, args=(url, worker, 500)) for worker in (1, 2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=300)
        assert process.exitcode == 0
    with Store(url) as store:
        log = Log(store)
        entries = list(log.entries())
        assert [entry.index for entry in entries] == list(range(1000))
        written = sorted(entry.statement for entry in entries)
        assert written == sorted(f"worker {w} statement {n}\n" for w in (1, 2) for n in range(500))
        note = log.publish_checkpoint(OPERATOR)
        checkpoint, _ = open_checkpoint(note.to_text(), OPERATOR.verifier_key())
        assert checkpoint.size == 1000
        assert checkpoint.root_hash == tree_of(entries).root()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_postgres_down_refused_connection_fails_at_once_in_one_line() -> None:
    """Issue 13 item 7: a refused connection is one line naming the store, not the pool's 30 s timeout."""
    port = _free_port()
    with pytest.raises(StorageError) as refused:
        Store(f"postgresql://postgres:secret@127.0.0.1:{port}/accord")
    message = str(refused.value)
    assert message.startswith(f"store: cannot connect to postgresql://postgres:***@127.0.0.1:{port}/accord: ")
    assert "Connection refused" in message and "\n" not in message and "secret" not in message
    assert "couldn't get a connection" not in message


def test_postgres_url_parameters_reach_the_driver() -> None:
    """Issue 13 item 7: sslmode and the other libpq parameters of the URL are passed on, schema excepted."""
    from ledger.store import driver_parameters

    url = "postgresql://u@db.example/accord?schema=council&sslmode=require&application_name=accord"
    assert driver_parameters(url) == {"sslmode": "require", "application_name": "accord", "connect_timeout": "10"}
    assert driver_parameters("postgresql://u@h/d?connect_timeout=3") == {"connect_timeout": "3"}
    assert driver_parameters("sqlite:///a.db") == {}


@pytest.mark.postgres
def test_postgres_sslmode_require_reaches_the_server(postgres_url: str) -> None:
    """The test server speaks no TLS: sslmode=require must then fail, which it can only if libpq saw it."""
    with Store(postgres_url + "&sslmode=disable") as store:
        assert store.head() is None
    with pytest.raises(StorageError, match=r"^store: cannot connect to .*sslmode=require: .*SSL"):
        Store(postgres_url + "&sslmode=require")


def test_postgres_schema_name_is_a_plain_identifier_or_refused() -> None:
    """Issue 13 item 10: the schema reaches SQL as a name, so anything but [a-z_][a-z0-9_]* is refused before any SQL."""
    for name in ('x"; DROP TABLE stored_events; --', "Council", "1st", "a" * 64):
        with pytest.raises(StorageError, match=r"^store: schema name .*: want lowercase letters, digits and _, at most 63, not starting with a digit$"):
            store_environment(f"postgresql://u@h/d?schema={quote(name)}")
    assert store_environment("postgresql://u@h/d?schema=council_2")["POSTGRES_SCHEMA"] == "council_2"


def test_an_import_in_chunks_commits_every_chunk_and_its_checkpoint_or_nothing(store_url: str) -> None:
    with Store("memory:") as source_store, Store(store_url) as copy_store:
        source, copy = Log(source_store, clock=Ticker()), Log(copy_store)
        append_n(source, 5)
        note = source.publish_checkpoint(OPERATOR)
        datas = [entry.to_bytes() for entry in source.entries()]

        def refuse(cursor: object) -> bool:
            raise StorageError("test", "the second chunk's rows failed")

        with pytest.raises(StorageError, match="^test: the second chunk's rows failed$"):
            copy.import_verified(0, [(datas[:2], None), (datas[2:], refuse)], note)
        assert copy.size == 0 and copy.latest_checkpoint() is None
        assert copy.import_verified(0, [(datas[:2], None), (datas[2:], lambda cursor: False)], note) == [True, False]
        assert [entry.to_bytes() for entry in copy.entries()] == datas
        assert copy.latest_checkpoint() == note and copy.head().root == source.head().root
        assert copy.import_verified(5, [], note) == []  # an older or equal checkpoint is not stored again
        assert [n for n, _ in copy_store.checkpoints()] == [0]


def test_checkpoints_below_a_number_are_read_newest_first_in_pages(log: Log) -> None:
    # A certificate's builder bisects the kept checkpoints by number: every backend reads below one.
    for size in range(1, 6):
        log.append([statement(size)])
        log.publish_checkpoint(OPERATOR)
    store = log.store
    assert [n for n, _ in store.checkpoints(page=2)] == [4, 3, 2, 1, 0]
    assert [n for n, _ in store.checkpoints(page=2, below=3)] == [2, 1, 0]
    assert [Checkpoint.from_text(Note.from_text(text).text).size for _, text in store.checkpoints(page=1, below=2)] == [2, 1]
    assert list(store.checkpoints(below=0)) == [] and [n for n, _ in store.checkpoints(below=99)] == [4, 3, 2, 1, 0]


def test_a_proof_beyond_the_size_is_refused_after_proofs_within_it(log: Log) -> None:
    """A Log answers proofs up to a size it has seen without reading the head again; past it, it reads and refuses."""
    log.append([f"statement {n}\n" for n in range(5)])
    assert len(log.inclusion_proof(1, 5)) == 3
    with pytest.raises(ProofError, match=r"^log: tree size 6 is beyond the log's size 5$"):
        log.inclusion_proof(1, 6)
    log.append(["statement 5\n"])
    assert len(log.inclusion_proof(1, 6)) == 3
    with pytest.raises(ProofError, match=r"^log: tree size -1 is beyond the log's size 6$"):
        log.consistency_proof(0, -1)
