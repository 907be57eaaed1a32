"""The parsers check each field once and build their objects without checking them again (a
verifier's workers parse every entry): they must accept and refuse exactly what the checked
constructors do, with the same values and the same messages.

The oracle for each is the plain way: parse the canonical JSON, then call the
dataclass's own constructor, whose ``__post_init__`` checks every field.
Hypothesis mutates the golden vectors' entries, notes and statements.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.canonical import parse_canonical
from ledger.encoding import as_text, decode_base64
from ledger.entry import MAX_ENTRY_BYTES, Entry
from ledger.errors import AccordError, MalformedError
from ledger.keys import KEY_ID_SIZE, check_key_name
from ledger.note import MAX_SIGNATURES, SIGNATURE_PREFIX, Note, NoteSignature, _check_characters
from ledger.statement import Statement
from tests.vectorfiles import accord_golden

GOLDEN = accord_golden()
ENTRIES = [case["bytes_utf8"].encode("utf-8") for case in GOLDEN["entries"]]
NOTES = [Entry.from_bytes(data).statement for data in ENTRIES]
STATEMENTS = [case["text"] for case in GOLDEN["statements"]]


def outcome(parse: Any, given: Any) -> Any:
    """What ``parse(given)`` gives: its value (dataclasses compare by their fields), or the error's kind and message."""
    try:
        value = parse(given)
    except (AccordError, UnicodeError) as error:  # a lone surrogate in a str statement: UnicodeEncodeError, as before
        return type(error).__name__, str(error)
    return value


def entry_the_plain_way(data: bytes) -> Entry:
    if len(data) > MAX_ENTRY_BYTES:
        raise MalformedError("entry", f"too large: got {len(data)} bytes, want at most {MAX_ENTRY_BYTES}")
    document = parse_canonical(data, "entry")
    if not isinstance(document, dict) or set(document) != {"v", "index", "logged_at", "statement"}:
        got = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise MalformedError("entry", f"fields: got {got}, want {sorted({'v', 'index', 'logged_at', 'statement'})}")
    if type(document["v"]) is not int or document["v"] != 1:  # SPEC 10: true is never 1
        raise MalformedError("entry", f"version: got {document['v']!r}, want 1")
    return Entry(index=document["index"], logged_at=document["logged_at"], statement=document["statement"])


def note_the_plain_way(data: str) -> Note:
    data = as_text(data, "note")
    _check_characters(data)
    split = data.rfind("\n\n")
    if split < 0:
        raise MalformedError("note", "no blank line between the text and the signatures")
    text, block = data[: split + 1], data[split + 2 :]
    if not block:
        raise MalformedError("note", "no signature lines after the blank line")
    if not block.endswith("\n"):
        raise MalformedError("note", "last signature line does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedError("note", f"too many signatures: got {len(lines)}, want at most {MAX_SIGNATURES}")
    signatures = []
    for number, line in enumerate(lines, 1):
        where = f"signature line {number}"
        if not line.startswith(SIGNATURE_PREFIX):
            raise MalformedError("note", f"{where} does not start with '\u2014 ' (em dash, space)")
        name, space, signature_b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not space:
            raise MalformedError("note", f"{where} has no space between key name and signature")
        check_key_name(name, "note")
        raw = decode_base64(signature_b64, "note", where)
        if len(raw) <= KEY_ID_SIZE:
            raise MalformedError("note", f"{where}: signature got {len(raw)} bytes, want a {KEY_ID_SIZE}-byte key id and a signature")
        signatures.append(NoteSignature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:]))
    return Note(text, tuple(signatures))


def statement_the_plain_way(text: str) -> Statement:
    if not text.endswith("\n") or "\n" in text[:-1]:
        raise MalformedError("statement", "text must be one line of JSON ending in a newline")
    document = parse_canonical(text[:-1].encode("utf-8"), "statement")
    fields = {"v", "origin", "kind", "actor", "signed_at", "nonce", "body"}
    if not isinstance(document, dict) or set(document) != fields:
        got = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise MalformedError("statement", f"fields: got {got}, want {sorted(fields)}")
    if type(document["v"]) is not int or document["v"] != 1:  # SPEC 10: true is never 1
        raise MalformedError("statement", f"version: got {document['v']!r}, want 1")
    return Statement(**{name: document[name] for name in ("origin", "kind", "actor", "signed_at", "nonce", "body")})


def mutated(seeds: list[Any]) -> st.SearchStrategy[Any]:
    """A seed with a few characters (or bytes) replaced, inserted or removed at one place."""
    pieces = st.sampled_from(['"', "\\", "\n", "\x01", "\ud800", "é", "+", " ", "0", "1.5", "true", "Z", "—", "A", "=", "{", "}"])

    def mutate(seed: Any, at: int, inserted: str, removed: int) -> Any:
        if isinstance(seed, bytes):
            return seed[:at] + inserted.encode("utf-8", "surrogatepass") + seed[at + removed :]
        return seed[:at] + inserted + seed[at + removed :]

    return st.sampled_from(seeds).flatmap(
        lambda seed: st.builds(mutate, st.just(seed), st.integers(0, len(seed)), pieces, st.integers(0, 3))
    )


@settings(max_examples=400, deadline=None)
@given(mutated(ENTRIES))
@example(ENTRIES[0].replace(b'"v":1', b'"v":true'))
def test_an_entry_is_read_as_its_checked_constructor_reads_it(data: bytes) -> None:
    got, want = outcome(Entry.from_bytes, data), outcome(entry_the_plain_way, data)
    assert got == want
    if isinstance(got, Entry):
        assert got.logged_at_seconds == want.logged_at_seconds


@settings(max_examples=400, deadline=None)
@given(mutated(NOTES))
def test_a_note_is_read_as_its_checked_constructors_read_it(text: str) -> None:
    assert outcome(Note.from_text, text) == outcome(note_the_plain_way, text)


@settings(max_examples=400, deadline=None)
@given(mutated(STATEMENTS))
@example(STATEMENTS[0].replace('"v":1', '"v":true'))
def test_a_statement_is_read_as_its_checked_constructor_reads_it(text: str) -> None:
    got, want = outcome(Statement.from_text, text), outcome(statement_the_plain_way, text)
    assert got == want
    if isinstance(got, Statement):
        assert got.signed_at_seconds == want.signed_at_seconds


def test_a_value_first_seen_malformed_is_refused_every_time() -> None:
    """The memo of checked origins, kinds and actors only ever holds values __post_init__ accepted."""
    text = STATEMENTS[0].replace('"kind":"', '"kind":"Bad', 1)
    for _ in range(2):
        assert outcome(Statement.from_text, text) == outcome(statement_the_plain_way, text)
        assert outcome(Statement.from_text, text)[0] == "MalformedError"
