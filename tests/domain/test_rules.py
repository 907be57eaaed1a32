"""One test (at least) per rule and per refusal, named after it, asserting the exact error."""

from __future__ import annotations

import pytest

from domain.charter import OPERATOR, Category
from domain.rules import apply, read_statement
from domain.state import ACTIVE, SUSPENDED, WITHDRAWN
from ledger.entry import Entry
from ledger.errors import MalformedError, RuleViolation, SignatureError
from ledger.note import sign_note
from ledger.statement import Statement
from ledger.timefmt import format_time
from tests.domain.scenario import DAY, ORIGIN, Scenario, new_signer

MEMBERS = ("de", "fr", "pl", "ua", "rs", "by")


@pytest.fixture
def council() -> Scenario:
    return Scenario()


def test_charter_founds_members_observers_and_operator(council: Scenario) -> None:
    state = council.state
    assert state.size == 1
    assert sorted(state.actors) == sorted([*MEMBERS, "in", OPERATOR])
    assert state.actors["in"].role == "observer"
    assert state.actors["de"].affiliations == ("NATO", "EU")
    assert state.anchor == council.entries[0].leaf_hash()
    assert state.settings.categories["military-operation"] == Category("ratification", "0s")


def test_charter_not_signed_by_every_founding_member_is_refused() -> None:
    council = Scenario()
    statement = council.statement(OPERATOR, "charter", {})
    charter_text = council.entries[0].statement.split("\n\n")[0] + "\n"
    note = sign_note(charter_text, council.keys[OPERATOR], *(council.keys[m] for m in MEMBERS if m != "by"))
    with pytest.raises(SignatureError) as raised:
        apply(None, Entry(0, council.entries[0].logged_at, note.to_text()))
    assert str(raised.value) == "charter: not signed by founding member by"
    assert statement.kind == "charter"


def test_charter_not_signed_by_the_operator_is_refused() -> None:
    council = Scenario()
    charter_text = council.entries[0].statement.split("\n\n")[0] + "\n"
    note = sign_note(charter_text, *(council.keys[m] for m in MEMBERS))
    with pytest.raises(SignatureError, match=r"^charter: not signed by the operator key accord\.test/european-security\+[0-9a-f]{8}$"):
        apply(None, Entry(0, council.entries[0].logged_at, note.to_text()))


def test_first_entry_that_is_not_a_charter_is_refused(council: Scenario) -> None:
    entry = council.entry(council.statement("de", "statement.make", {"text": "hello"}))
    with pytest.raises(RuleViolation) as raised:
        apply(None, Entry(0, entry.logged_at, entry.statement))
    assert raised.value.rule == "charter.first"
    assert str(raised.value) == "statement.make: entry 0 must be the charter, got kind 'statement.make'"


def test_second_charter_is_refused(council: Scenario) -> None:
    error = council.refused_entry(Entry(1, council.entries[0].logged_at, council.entries[0].statement))
    assert isinstance(error, RuleViolation) and error.rule == "charter.once"
    assert str(error) == "charter: a ledger has one charter, at entry 0"


def test_entry_with_wrong_index_is_refused(council: Scenario) -> None:
    entry = council.entry(council.statement("de", "statement.make", {"text": "hello"}))
    error = council.refused_entry(Entry(5, entry.logged_at, entry.statement))
    assert str(error) == "statement.make: got 5, want 1"


def test_entry_logged_before_its_predecessor_is_refused(council: Scenario) -> None:
    council.advance(100)
    council.do("de", "statement.make", {"text": "first"})
    council.advance(-50)
    error = council.refused("fr", "statement.make", {"text": "second"})
    assert isinstance(error, RuleViolation) and error.rule == "entry.logged-at"
    assert str(error) == f"statement.make: logged_at {format_time(council.now)} is before the previous entry's {format_time(council.now + 50)}"


def test_statement_for_another_origin_is_refused(council: Scenario) -> None:
    error = council.refused("de", "statement.make", {"text": "hello"}, origin="accord.test/other")
    assert isinstance(error, RuleViolation) and error.rule == "statement.origin"
    assert str(error) == f"statement.make: statement for origin 'accord.test/other', want '{ORIGIN}'"


def test_unknown_kind_is_refused(council: Scenario) -> None:
    error = council.refused("de", "proposal.veto", {"proposal": "P-1"})
    assert str(error) == "proposal.veto: unknown statement kind 'proposal.veto'"


def test_signed_at_beyond_the_allowed_skew_is_refused(council: Scenario) -> None:
    council.advance(30 * DAY)
    error = council.refused("de", "statement.make", {"text": "late"}, signed_at=council.now - 8 * DAY)
    assert isinstance(error, RuleViolation) and error.rule == "statement.signed-at-skew"
    assert str(error) == (
        f"statement.make: signed_at {format_time(council.now - 8 * DAY)} is more than 7d from logged_at {format_time(council.now)}"
    )


def test_vote_signed_offline_a_week_ago_is_accepted(council: Scenario) -> None:
    proposal = council.propose(period=14 * DAY)
    council.advance(7 * DAY)
    council.vote("fr", proposal, "approve", signed_at=council.now - 7 * DAY)
    assert council.state.open_proposals[proposal].positions["fr"] == "approve"


def test_double_submission_of_a_statement_is_refused(council: Scenario) -> None:
    entry = council.entry(council.statement("de", "statement.make", {"text": "once"}))
    council.append(entry)
    error = council.refused_entry(Entry(2, entry.logged_at, entry.statement))
    assert isinstance(error, RuleViolation) and error.rule == "statement.duplicate"
    nonce = council.state.nonces
    assert str(error).startswith("statement.make: the log already holds a statement with nonce ")
    assert len(nonce) == 2


def test_nonces_are_forgotten_once_no_replay_could_pass_the_skew_check(council: Scenario) -> None:
    council.do("de", "statement.make", {"text": "old"})
    assert len(council.state.nonces) == 2
    council.advance(10 * DAY)
    council.do("de", "statement.make", {"text": "new"})
    assert len(council.state.nonces) == 1


# Signatures and keys.


def test_forged_signature_is_refused(council: Scenario) -> None:
    entry = council.entry(council.statement("de", "statement.make", {"text": "genuine"}))
    forged = entry.statement.replace("genuine", "forged!")
    error = council.refused_entry(Entry(1, entry.logged_at, forged))
    assert isinstance(error, SignatureError)
    assert str(error) == f"statement.make: invalid signature by {council.keys['de'].verifier_key().label}"


def test_missing_signature_is_refused(council: Scenario) -> None:
    error = council.refused("de", "statement.make", {"text": "unsigned"}, signers=[council.keys["fr"]])
    assert isinstance(error, SignatureError)
    assert str(error) == f"statement.make: not signed by a valid key of de: got {council.keys['fr'].verifier_key().label}"


def test_statement_by_a_non_member_is_refused(council: Scenario) -> None:
    council.keys["xx"] = new_signer("xx")
    error = council.refused("xx", "vote.cast", {"proposal": "P-1", "position": "approve"})
    assert isinstance(error, RuleViolation) and error.rule == "actor.unknown"
    assert str(error) == "vote.cast: xx is not an actor of this ledger"


def test_key_add_needs_the_new_key_to_sign(council: Scenario) -> None:
    new = new_signer("de", 1)
    body = {"key": new.verifier_key().to_text()}
    error = council.refused("de", "key.add", body)
    assert str(error) == f"key.add: not signed by the new key {new.verifier_key().label}: a key must prove possession"
    council.do("de", "key.add", body, signers=[council.keys["de"], new])
    assert len(council.state.actors["de"].valid_keys()) == 2


def test_key_add_of_a_key_named_for_another_actor_is_refused(council: Scenario) -> None:
    other = new_signer("fr", 1)
    error = council.refused("de", "key.add", {"key": other.verifier_key().to_text()}, signers=[council.keys["de"], other])
    assert str(error) == f"key.add: key name got '{ORIGIN}/fr', want '{ORIGIN}/de'"


def test_vote_signed_with_revoked_key_is_refused_and_earlier_ones_stay_valid(council: Scenario) -> None:
    proposal = council.propose()
    old, new = council.keys["de"], new_signer("de", 1)
    council.vote("de", proposal, "approve")
    council.do("de", "key.revoke", {"key": old.verifier_key().to_text(), "replacement": new.verifier_key().to_text()}, signers=[old, new])
    error = council.refused("de", "vote.cast", {"proposal": proposal, "position": "object"}, signers=[old])
    assert isinstance(error, SignatureError)
    assert str(error) == f"vote.cast: signature by revoked key de+{old.key_id.hex()}"
    council.keys["de"] = new
    council.vote("de", proposal, "object")
    assert council.state.open_proposals[proposal].positions["de"] == "object"


def test_last_key_cannot_be_revoked_without_a_replacement(council: Scenario) -> None:
    key = council.keys["pl"].verifier_key()
    error = council.refused("pl", "key.revoke", {"key": key.to_text()})
    assert isinstance(error, RuleViolation) and error.rule == "key.last-key"
    assert str(error) == f"key.revoke: {key.label} is the last valid key of pl; name a replacement"


def test_revoking_one_of_two_keys_needs_no_replacement(council: Scenario) -> None:
    second = new_signer("pl", 1)
    council.do("pl", "key.add", {"key": second.verifier_key().to_text()}, signers=[council.keys["pl"], second])
    council.do("pl", "key.revoke", {"key": council.keys["pl"].verifier_key().to_text()}, signers=[second])
    assert council.state.actors["pl"].valid_keys() == [second.verifier_key()]


# Membership.


def test_member_suspends_and_resumes_itself(council: Scenario) -> None:
    council.do("ua", "membership.suspend", {})
    assert council.state.actors["ua"].standing(council.now) == SUSPENDED
    council.do("ua", "membership.resume", {})
    assert council.state.actors["ua"].standing(council.now) == ACTIVE


def test_vote_by_suspended_member_is_refused(council: Scenario) -> None:
    proposal = council.propose()
    council.do("ua", "membership.suspend", {})
    error = council.refused("ua", "vote.cast", {"proposal": proposal, "position": "object"})
    assert isinstance(error, RuleViolation) and error.rule == "actor.standing"
    assert str(error) == "vote.cast: ua is suspended; want active"


def test_resume_of_a_suspension_by_decision_is_refused(council: Scenario) -> None:
    proposal = council.propose(category="suspension", subject="by", concerned=["by"])
    council.after_deadline(proposal)
    council.close(proposal)
    assert council.state.actors["by"].suspended_by == "D-1"
    error = council.refused("by", "membership.resume", {})
    assert isinstance(error, RuleViolation) and error.rule == "membership.resume-not-self"
    assert str(error) == "membership.resume: by was suspended by decision D-1; only a decision lifts it"


def test_withdrawal_takes_effect_after_the_notice_period_and_is_final(council: Scenario) -> None:
    council.do("rs", "membership.withdraw", {"reason": "sovereign choice"})
    council.advance(89 * DAY)
    assert council.state.actors["rs"].standing(council.now) == ACTIVE
    council.do("rs", "statement.make", {"text": "still here"})
    council.advance(DAY)
    assert council.state.actors["rs"].standing(council.now) == WITHDRAWN
    error = council.refused("rs", "membership.resume", {})
    assert str(error) == "membership.resume: rs is withdrawn; want suspended"


def test_withdrawn_member_never_votes_again(council: Scenario) -> None:
    council.do("rs", "membership.withdraw", {})
    council.advance(90 * DAY)
    proposal = council.propose()
    assert "rs" not in council.state.open_proposals[proposal].electorate
    error = council.refused("rs", "vote.cast", {"proposal": proposal, "position": "object"})
    assert str(error) == "vote.cast: rs is withdrawn; want active"


def test_withdrawing_twice_is_refused(council: Scenario) -> None:
    council.do("rs", "membership.withdraw", {})
    error = council.refused("rs", "membership.withdraw", {})
    assert str(error) == f"membership.withdraw: rs withdraws from {format_time(council.now + 90 * DAY)} already"


def test_affiliations_are_declared_and_replace_earlier_ones(council: Scenario) -> None:
    council.do("ua", "affiliation.declare", {"affiliations": ["EU candidate"]})
    assert council.state.actors["ua"].affiliations == ("EU candidate",)


def test_affiliation_declared_by_an_observer_is_refused(council: Scenario) -> None:
    error = council.refused("in", "affiliation.declare", {"affiliations": ["BRICS"]})
    assert str(error) == "affiliation.declare: in is an observer; want a member"


# Admission and accession.


def test_adopted_admission_waits_for_accession_signed_by_the_candidate_key(council: Scenario) -> None:
    candidate = new_signer("md")
    proposal = council.propose(
        category="admission",
        candidate={"id": "md", "name": "Moldova", "role": "member", "keys": [candidate.verifier_key().to_text()]},
    )
    council.after_deadline(proposal)
    council.close(proposal)
    assert "md" in council.state.admissions and "md" not in council.state.actors
    council.keys["md"] = new_signer("md", 9)
    error = council.refused("md", "accession", {"proposal": proposal})
    assert str(error) == f"accession: not signed by a valid key of md: got {council.keys['md'].verifier_key().label}"
    council.keys["md"] = candidate
    council.do("md", "accession", {"proposal": proposal})
    assert council.state.actors["md"].role == "member"
    assert "md" not in council.state.admissions


def test_accession_without_an_adopted_admission_is_refused(council: Scenario) -> None:
    council.keys["md"] = new_signer("md")
    error = council.refused("md", "accession", {"proposal": "P-1"})
    assert str(error) == "accession: no adopted admission of md awaits accession"


def test_admission_of_an_existing_member_is_refused(council: Scenario) -> None:
    error = council.refused(
        "de",
        "proposal.submit",
        {
            "category": "admission",
            "title": "t",
            "text": "t",
            "deadline": format_time(council.now + DAY),
            "candidate": {"id": "fr", "name": "France", "role": "member", "keys": [council.keys["fr"].verifier_key().to_text()]},
        },
    )
    assert str(error) == "proposal.submit: fr is already an actor of this ledger"


def test_observer_revocation_ends_the_observer_standing(council: Scenario) -> None:
    proposal = council.propose(category="observer-revocation", subject="in")
    council.after_deadline(proposal)
    council.close(proposal)
    error = council.refused("in", "statement.make", {"text": "we object"})
    assert str(error) == "statement.make: in is revoked; want active or suspended"


# Proposals, votes, procedures.


def test_proposal_by_an_observer_is_refused(council: Scenario) -> None:
    error = council.refused("in", "proposal.submit", {"category": "general", "title": "t", "text": "t", "deadline": format_time(council.now + DAY)})
    assert isinstance(error, RuleViolation) and error.rule == "actor.role"
    assert str(error) == "proposal.submit: in is an observer; want a member"


def test_proposal_with_unknown_category_is_refused(council: Scenario) -> None:
    error = council.refused("de", "proposal.submit", {"category": "bloc-vote", "title": "t", "text": "t", "deadline": format_time(council.now + DAY)})
    assert str(error) == "proposal.submit: category 'bloc-vote' is not in the charter"


def test_voting_period_shorter_than_the_category_minimum_is_refused() -> None:
    council = Scenario(categories={"military-operation": Category("ratification", "14d")})
    error = council.refused(
        "de", "proposal.submit", {"category": "military-operation", "title": "t", "text": "t", "deadline": format_time(council.now + 13 * DAY)}
    )
    assert isinstance(error, RuleViolation) and error.rule == "proposal.min-period"
    assert str(error) == "proposal.submit: voting period of 1123200s is shorter than the 14d minimum for military-operation"


def test_deadline_in_the_past_is_refused(council: Scenario) -> None:
    error = council.refused("de", "proposal.submit", {"category": "general", "title": "t", "text": "t", "deadline": format_time(council.now)})
    assert str(error) == f"proposal.submit: deadline {format_time(council.now)} is not after logged_at {format_time(council.now)}"


def test_proposal_with_unknown_field_is_refused(council: Scenario) -> None:
    error = council.refused(
        "de", "proposal.submit", {"category": "general", "title": "t", "text": "t", "deadline": format_time(council.now + DAY), "bloc": "west"}
    )
    assert isinstance(error, RuleViolation) and error.field == "body.bloc"
    assert str(error) == "proposal.submit: unknown field bloc"


def test_proposal_referencing_unknown_appeal_is_refused(council: Scenario) -> None:
    error = council.refused(
        "de", "proposal.submit", {"category": "general", "title": "t", "text": "t", "deadline": format_time(council.now + DAY), "references": ["A-1"]}
    )
    assert str(error) == "proposal.submit: references ['A-1'] must name P-n, D-n or A-n on this log"


def test_electorate_is_fixed_at_submission(council: Scenario) -> None:
    council.do("ua", "membership.suspend", {})
    proposal = council.propose()
    assert council.state.open_proposals[proposal].electorate == ("by", "de", "fr", "pl", "rs")


def test_consensus_is_adopted_by_silence(council: Scenario) -> None:
    proposal = council.propose()
    council.after_deadline(proposal)
    council.close(proposal)
    assert council.state.decisions == 1
    assert proposal not in council.state.open_proposals


def test_consensus_is_blocked_by_one_objection(council: Scenario) -> None:
    proposal = council.propose()
    council.vote("by", proposal, "object")
    council.vote("ua", proposal, "abstain")
    council.after_deadline(proposal)
    council.close(proposal)
    assert council.state.decisions == 0


def test_ratification_fails_when_one_member_abstains(council: Scenario) -> None:
    proposal = council.propose(category="military-operation")
    for member in MEMBERS[:-1]:
        council.vote(member, proposal, "approve")
    council.vote("by", proposal, "abstain")
    council.after_deadline(proposal)
    council.close(proposal)
    assert council.state.decisions == 0


def test_ratification_fails_on_silence(council: Scenario) -> None:
    proposal = council.propose(category="armament-increase")
    for member in MEMBERS[:-1]:
        council.vote(member, proposal, "approve")
    council.after_deadline(proposal)
    council.close(proposal)
    assert council.state.decisions == 0


def test_ratification_by_every_member_is_adopted_and_may_close_early(council: Scenario) -> None:
    proposal = council.propose(category="military-operation")
    for member in MEMBERS:
        council.vote(member, proposal, "approve")
    council.close(proposal, actor="fr")
    assert council.state.decisions == 1


def test_early_close_without_unanimous_approval_is_refused(council: Scenario) -> None:
    proposal = council.propose()
    council.vote("de", proposal, "approve")
    error = council.refused(OPERATOR, "proposal.close", {"proposal": proposal, "submission": 1, "outcome": "adopted", "tally": {}})
    assert isinstance(error, RuleViolation) and error.rule == "proposal.close-early"
    deadline = format_time(council.state.open_proposals[proposal].deadline)
    assert str(error) == f"proposal.close: {proposal} is open until {deadline}; closing earlier needs every electorate member's approval"


def test_consensus_minus_concerned_ignores_the_concerned_member(council: Scenario) -> None:
    proposal = council.propose(category="violation-finding", concerned=["by"])
    assert "by" not in council.state.open_proposals[proposal].electorate
    error = council.refused("by", "vote.cast", {"proposal": proposal, "position": "object"})
    assert str(error) == f"vote.cast: by is not in the electorate of {proposal}"
    council.after_deadline(proposal)
    council.close(proposal)
    assert council.state.decisions == 1


def test_vote_is_replaced_by_a_later_vote_before_the_deadline(council: Scenario) -> None:
    proposal = council.propose()
    council.vote("pl", proposal, "object")
    council.vote("pl", proposal, "approve", explanation="after consultations")
    council.after_deadline(proposal)
    council.close(proposal)
    assert council.state.decisions == 1


def test_vote_after_the_deadline_is_refused(council: Scenario) -> None:
    proposal = council.propose(period=DAY)
    council.advance(DAY)
    error = council.refused("pl", "vote.cast", {"proposal": proposal, "position": "object"})
    assert isinstance(error, RuleViolation) and error.rule == "vote.after-deadline"
    assert str(error) == f"vote.cast: logged at {format_time(council.now)}, not before the deadline {format_time(council.now)} of {proposal}"


def test_vote_by_an_observer_is_refused(council: Scenario) -> None:
    proposal = council.propose()
    error = council.refused("in", "vote.cast", {"proposal": proposal, "position": "object"})
    assert str(error) == "vote.cast: in is an observer; want a member"


def test_vote_by_civil_society_is_refused(council: Scenario) -> None:
    register_union(council)
    proposal = council.propose()
    error = council.refused("etuc", "vote.cast", {"proposal": proposal, "position": "object"})
    assert str(error) == "vote.cast: etuc is a civil-society; want a member"


def test_vote_with_unknown_position_is_refused(council: Scenario) -> None:
    proposal = council.propose()
    error = council.refused("pl", "vote.cast", {"proposal": proposal, "position": "veto"})
    assert str(error) == "vote.cast: position got 'veto', want one of approve, object, abstain"


def test_vote_on_unknown_proposal_is_refused(council: Scenario) -> None:
    error = council.refused("pl", "vote.cast", {"proposal": "P-9", "position": "approve"})
    assert str(error) == "vote.cast: proposal 'P-9' is not a P-n on this log"


def test_close_with_a_wrong_outcome_is_refused(council: Scenario) -> None:
    proposal = council.propose()
    council.vote("by", proposal, "object")
    council.after_deadline(proposal)
    tally = {"approve": 0, "object": 1, "abstain": 0, "silent": 5}
    error = council.refused(OPERATOR, "proposal.close", {"proposal": proposal, "submission": 1, "outcome": "adopted", "tally": tally})
    assert isinstance(error, RuleViolation) and error.rule == "proposal.close-outcome"
    assert str(error) == f"proposal.close: outcome of {proposal} got 'adopted', want 'rejected'"


def test_close_with_a_wrong_tally_is_refused(council: Scenario) -> None:
    proposal = council.propose()
    council.after_deadline(proposal)
    error = council.refused(
        OPERATOR, "proposal.close", {"proposal": proposal, "submission": 1, "outcome": "adopted", "tally": {"approve": 6, "object": 0, "abstain": 0, "silent": 0}}
    )
    assert str(error) == (
        f"proposal.close: tally of {proposal} got 6 approve, 0 object, 0 abstain, 0 silent, "
        "want 0 approve, 0 object, 0 abstain, 6 silent"
    )


def test_close_naming_another_entry_as_the_submission_is_refused(council: Scenario) -> None:
    proposal = council.propose()
    council.after_deadline(proposal)
    tally = {"approve": 0, "object": 0, "abstain": 0, "silent": 6}
    error = council.refused(OPERATOR, "proposal.close", {"proposal": proposal, "submission": 0, "outcome": "adopted", "tally": tally})
    assert isinstance(error, RuleViolation) and error.rule == "proposal.close-submission"
    assert str(error) == f"proposal.close: submission got 0, want 1 (the entry that submitted {proposal})"


def test_closed_proposal_cannot_be_voted_on(council: Scenario) -> None:
    proposal = council.propose()
    council.after_deadline(proposal)
    council.close(proposal)
    error = council.refused("pl", "vote.cast", {"proposal": proposal, "position": "object"})
    assert str(error) == f"vote.cast: {proposal} is no longer open"


def test_decisions_are_numbered_in_order_of_adoption(council: Scenario) -> None:
    first, second = council.propose(period=2 * DAY), council.propose(period=DAY)
    council.advance(DAY)
    council.close(second)
    council.advance(DAY)
    council.close(first)
    assert council.state.decisions == 2


def test_proposer_withdraws_an_open_proposal(council: Scenario) -> None:
    proposal = council.propose("fr")
    error = council.refused("de", "proposal.withdraw", {"proposal": proposal})
    assert str(error) == f"proposal.withdraw: {proposal} was proposed by fr, not de"
    council.do("fr", "proposal.withdraw", {"proposal": proposal})
    assert proposal not in council.state.open_proposals


def test_member_suspended_during_the_vote_leaves_the_counted_electorate(council: Scenario) -> None:
    proposal = council.propose(category="military-operation")
    for member in ("de", "fr", "pl", "ua", "rs"):
        council.vote(member, proposal, "approve")
    council.do("by", "membership.suspend", {})
    council.close(proposal)
    assert council.state.decisions == 1


def test_charter_amendment_changes_a_category_from_its_close_on(council: Scenario) -> None:
    proposal = council.propose(category="charter-amendment", amendment={"categories": {"general": {"procedure": "ratification", "min_period": "1d"}}})
    for member in MEMBERS:
        council.vote(member, proposal, "approve")
    council.close(proposal)
    assert council.state.settings.categories["general"] == Category("ratification", "1d")


def test_key_revocation_decision_revokes_the_key_from_its_close_on(council: Scenario) -> None:
    replacement = new_signer("ua", 1)
    compromised = council.keys["ua"]
    proposal = council.propose(
        category="key-revocation",
        subject="ua",
        key=compromised.verifier_key().to_text(),
        replacement=replacement.verifier_key().to_text(),
        concerned=["ua"],
    )
    council.after_deadline(proposal)
    council.close(proposal)
    error = council.refused("ua", "statement.make", {"text": "hello"})
    assert str(error) == f"statement.make: signature by revoked key ua+{compromised.key_id.hex()}"
    council.keys["ua"] = replacement
    council.do("ua", "statement.make", {"text": "hello again"})


# Attachments, statements, appeals.


def test_reservation_is_attached_to_a_decision(council: Scenario) -> None:
    proposal = council.propose()
    council.after_deadline(proposal)
    council.close(proposal)
    council.do("by", "decision.attach", {"decision": "D-1", "type": "reservation", "text": "Belarus reserves its position."})
    error = council.refused("by", "decision.attach", {"decision": "D-2", "type": "reservation", "text": "x"})
    assert str(error) == "decision.attach: decision 'D-2' is not a D-n on this log"


def test_observer_statement_about_a_proposal_is_accepted(council: Scenario) -> None:
    proposal = council.propose()
    council.do("in", "statement.make", {"text": "India offers to mediate.", "about": proposal})


def test_statement_about_unknown_subject_is_refused(council: Scenario) -> None:
    error = council.refused("in", "statement.make", {"text": "x", "about": "P-7"})
    assert str(error) == "statement.make: about 'P-7' is not a P-n/D-n/A-n on this log"


def register_union(council: Scenario) -> None:
    council.keys["etuc"] = new_signer("etuc")
    council.do(
        "etuc",
        "civil-society.register",
        {"name": "European Trade Union Confederation", "kind": "trade-union", "countries": ["de", "fr"], "keys": [council.keys["etuc"].verifier_key().to_text()]},
    )


def test_civil_society_registers_itself_and_files_an_appeal(council: Scenario) -> None:
    register_union(council)
    council.do("etuc", "appeal.file", {"title": "Border tensions", "text": "Workers report ...", "concerned": ["pl", "by"], "urgency": "high"})
    council.do("pl", "appeal.acknowledge", {"appeal": "A-1"})
    council.do(OPERATOR, "appeal.answer", {"appeal": "A-1", "text": "Referred to the council."})
    proposal = council.propose(category="risk-assessment", references=["A-1"])
    assert council.state.open_proposals[proposal].references == ("A-1",)


def test_civil_society_registration_of_a_taken_id_is_refused(council: Scenario) -> None:
    council.keys["de"] = new_signer("de", 5)
    error = council.refused(
        "de", "civil-society.register", {"name": "x", "kind": "ngo", "countries": [], "keys": [council.keys["de"].verifier_key().to_text()]}
    )
    assert str(error) == "civil-society.register: actor id de is taken"


def test_appeal_by_a_member_is_refused(council: Scenario) -> None:
    error = council.refused("de", "appeal.file", {"title": "t", "text": "t", "concerned": [], "urgency": "low"})
    assert str(error) == "appeal.file: de is a member; want a civil-society"


def test_appeal_acknowledged_by_an_observer_is_refused(council: Scenario) -> None:
    register_union(council)
    council.do("etuc", "appeal.file", {"title": "t", "text": "t", "concerned": [], "urgency": "low"})
    error = council.refused("in", "appeal.acknowledge", {"appeal": "A-1"})
    assert str(error) == "appeal.acknowledge: in is an observer; want a member or an operator"


def test_malformed_statement_json_is_refused(council: Scenario) -> None:
    note = sign_note('{"kind": "vote.cast"}\n', council.keys["de"])
    error = council.refused_entry(Entry(1, format_time(council.now), note.to_text()))
    assert isinstance(error, MalformedError)
    assert str(error) == "statement: not in RFC 8785 canonical form"


def test_malformed_note_is_refused(council: Scenario) -> None:
    error = council.refused_entry(Entry(1, format_time(council.now), "no signatures here\n"))
    assert isinstance(error, MalformedError)
    assert str(error) == "note: no blank line between the text and the signatures"


def test_snapshot_round_trips_the_whole_state(council: Scenario) -> None:
    from domain.snapshot import from_snapshot, to_snapshot

    register_union(council)
    council.do("etuc", "appeal.file", {"title": "t", "text": "t", "concerned": ["pl"], "urgency": "low"})
    open_one = council.propose(category="military-operation")
    council.vote("de", open_one, "approve", explanation="yes")
    admitted = council.propose(category="admission", candidate={"id": "md", "name": "Moldova", "role": "member", "keys": [new_signer("md").verifier_key().to_text()]})
    council.do("ua", "membership.suspend", {})
    council.do("rs", "membership.withdraw", {})
    council.after_deadline(admitted)
    council.close(admitted)
    data = to_snapshot(council.state)
    assert from_snapshot(data) == council.state
    assert to_snapshot(from_snapshot(data)) == data



# The remaining refusals, one test each.


def test_adding_a_key_already_held_is_refused(council: Scenario) -> None:
    key = council.keys["pl"]
    error = council.refused("pl", "key.add", {"key": key.verifier_key().to_text()}, signers=[key])
    assert isinstance(error, RuleViolation) and error.rule == "key.already-held"
    assert str(error) == f"key.add: pl already holds key {key.verifier_key().label}"


def test_revoking_a_key_not_held_is_refused(council: Scenario) -> None:
    stranger = new_signer("pl", 7).verifier_key()
    error = council.refused("pl", "key.revoke", {"key": stranger.to_text()})
    assert isinstance(error, RuleViolation) and error.rule == "key.not-valid"
    assert str(error) == f"key.revoke: {stranger.label} is not a valid key of pl"


def _admission(council: Scenario, candidate: str = "md") -> dict[str, object]:
    return {"id": candidate, "name": "Moldova", "role": "member", "keys": [new_signer(candidate).verifier_key().to_text()]}


def test_second_admission_of_the_same_candidate_is_refused_while_one_is_open(council: Scenario) -> None:
    council.propose(category="admission", candidate=_admission(council))
    body = {"category": "admission", "title": "t", "text": "t", "deadline": format_time(council.now + DAY), "candidate": _admission(council)}
    error = council.refused("fr", "proposal.submit", body)
    assert isinstance(error, RuleViolation) and error.rule == "admission.pending"
    assert str(error) == "proposal.submit: an admission of md is already open or awaits accession"


def test_accession_naming_another_proposal_is_refused(council: Scenario) -> None:
    proposal = council.propose(category="admission", candidate=_admission(council))
    council.after_deadline(proposal)
    council.close(proposal)
    council.keys["md"] = new_signer("md")
    error = council.refused("md", "accession", {"proposal": "P-9"})
    assert isinstance(error, RuleViolation) and error.rule == "accession.wrong-proposal"
    assert str(error) == f"accession: proposal got 'P-9', want '{proposal}'"


def test_suspension_of_an_observer_is_refused(council: Scenario) -> None:
    body = {"category": "suspension", "title": "t", "text": "t", "deadline": format_time(council.now + DAY), "subject": "in"}
    error = council.refused("de", "proposal.submit", body)
    assert isinstance(error, RuleViolation) and error.rule == "suspension.subject"
    assert str(error) == "proposal.submit: in is not a member of this ledger"


def test_lifting_a_suspension_nobody_decided_is_refused(council: Scenario) -> None:
    body = {"category": "suspension", "title": "t", "text": "t", "deadline": format_time(council.now + DAY), "subject": "by", "lift": True}
    error = council.refused("de", "proposal.submit", body)
    assert isinstance(error, RuleViolation) and error.rule == "suspension.not-suspended"
    assert str(error) == "proposal.submit: by is not suspended by a decision"


def test_suspending_a_member_suspended_by_decision_again_is_refused(council: Scenario) -> None:
    proposal = council.propose(category="suspension", subject="by", concerned=["by"])
    council.after_deadline(proposal)
    council.close(proposal)
    body = {"category": "suspension", "title": "t", "text": "t", "deadline": format_time(council.now + DAY), "subject": "by"}
    error = council.refused("de", "proposal.submit", body)
    assert isinstance(error, RuleViolation) and error.rule == "suspension.already-suspended"
    assert str(error) == "proposal.submit: by is suspended by D-1 already"


def test_proposal_naming_a_non_member_as_concerned_is_refused(council: Scenario) -> None:
    body = {"category": "violation-finding", "title": "t", "text": "t", "deadline": format_time(council.now + DAY), "concerned": ["in"]}
    error = council.refused("de", "proposal.submit", body)
    assert isinstance(error, RuleViolation) and error.rule == "proposal.concerned-unknown"
    assert str(error) == "proposal.submit: concerned in is not a member"


def test_proposal_that_would_leave_no_electorate_is_refused() -> None:
    council = Scenario(members=("de", "fr"))
    body = {"category": "violation-finding", "title": "t", "text": "t", "deadline": format_time(council.now + DAY), "concerned": ["de", "fr"]}
    error = council.refused("de", "proposal.submit", body)
    assert isinstance(error, RuleViolation) and error.rule == "proposal.no-electorate"
    assert str(error) == "proposal.submit: no active member would be left to decide"


def test_close_that_names_the_wrong_decision_number_is_refused(council: Scenario) -> None:
    proposal = council.propose()
    council.after_deadline(proposal)
    tally = {"approve": 0, "object": 0, "abstain": 0, "silent": 6}
    body = {"proposal": proposal, "submission": 1, "outcome": "adopted", "tally": tally, "decision": "D-7"}
    error = council.refused(OPERATOR, "proposal.close", body)
    assert isinstance(error, RuleViolation) and error.rule == "proposal.close-decision"
    assert str(error) == "proposal.close: decision got 'D-7', want 'D-1'"


def test_appeal_naming_an_unknown_actor_is_refused(council: Scenario) -> None:
    register_union(council)
    error = council.refused("etuc", "appeal.file", {"title": "t", "text": "t", "concerned": ["zz"], "urgency": "low"})
    assert isinstance(error, RuleViolation) and error.rule == "appeal.concerned-unknown"
    assert str(error) == "appeal.file: concerned zz is not an actor of this ledger"


def test_charter_signed_as_another_actor_than_the_operator_is_refused() -> None:
    council = Scenario()
    charter = read_statement(council.entries[0].statement)[1]
    fields = charter.to_json()
    fields.pop("v")
    fields["actor"] = "de"
    forged = Statement(**fields)
    note = sign_note(forged.to_text(), council.keys[OPERATOR], *(council.keys[m] for m in MEMBERS))
    with pytest.raises(RuleViolation) as raised:
        apply(None, Entry(0, council.entries[0].logged_at, note.to_text()))
    assert raised.value.rule == "charter.actor"
    assert str(raised.value) == "charter: actor got 'de', want 'operator'"


def test_charter_with_a_founder_listed_twice_is_refused() -> None:
    council = Scenario()
    charter = read_statement(council.entries[0].statement)[1]
    fields = charter.to_json()
    fields.pop("v")
    fields["body"] = {**charter.body, "members": [*charter.body["members"], charter.body["members"][0]]}
    note = sign_note(Statement(**fields).to_text(), council.keys[OPERATOR], *(council.keys[m] for m in MEMBERS))
    with pytest.raises(RuleViolation) as raised:
        apply(None, Entry(0, council.entries[0].logged_at, note.to_text()))
    assert raised.value.rule == "charter.invalid"
    assert str(raised.value) == "charter: actor id 'de' is reserved or listed twice"


@pytest.mark.parametrize(
    ("category", "subject", "message"),
    [
        ("observer-revocation", "de", "de is not an observer of this ledger"),
        ("key-revocation", "zz", "zz is not an actor of this ledger"),
    ],
)
def test_decision_about_an_actor_it_cannot_concern_is_refused(council: Scenario, category: str, subject: str, message: str) -> None:
    body = {"category": category, "title": "t", "text": "t", "deadline": format_time(council.now + DAY), "subject": subject}
    if category == "key-revocation":
        body["key"] = council.keys["de"].verifier_key().to_text()
    error = council.refused("pl", "proposal.submit", body)
    assert isinstance(error, RuleViolation) and error.rule == f"{category}.subject"
    assert str(error) == f"proposal.submit: {message}"


# Strict types and memberships (issue 11).


def test_close_whose_submission_is_json_true_is_refused(council: Scenario) -> None:
    # The proposal is at entry 1, and Python's True == 1: another implementation of the rules would refuse it.
    proposal = council.propose()
    council.after_deadline(proposal)
    body = {"proposal": proposal, "submission": True, "outcome": "adopted", "tally": {"approve": 0, "object": 0, "abstain": 0, "silent": 6}, "decision": "D-1"}
    error = council.refused(OPERATOR, "proposal.close", body)
    assert isinstance(error, RuleViolation) and (error.rule, error.field) == ("statement.body", "body.submission")
    assert str(error) == "proposal.close: submission must be an entry index (an integer), got True"


def test_close_whose_tally_counts_are_json_true_is_refused() -> None:
    council = Scenario(members=("de",), observers=())
    proposal = council.propose()
    council.vote("de", proposal, "approve")
    body = {"proposal": proposal, "submission": 1, "outcome": "adopted", "tally": {"approve": True, "object": 0, "abstain": 0, "silent": 0}, "decision": "D-1"}
    error = council.refused(OPERATOR, "proposal.close", body)
    assert isinstance(error, RuleViolation) and error.rule == "proposal.close-tally"
    assert str(error) == f"proposal.close: tally of {proposal} got True approve, 0 object, 0 abstain, 0 silent, want 1 approve, 0 object, 0 abstain, 0 silent"


def _readmit(council: Scenario, member: str) -> None:
    """``member`` withdraws (at once: the charter's notice is 0s) and is admitted again, a new membership."""
    council.do(member, "membership.withdraw", {})
    council.advance(1)
    key = new_signer(member, 1)
    candidate = {"id": member, "name": "Serbia", "role": "member", "keys": [key.verifier_key().to_text()]}
    admission = council.propose(category="admission", period=DAY, candidate=candidate)
    council.after_deadline(admission)
    council.close(admission)
    council.keys[member] = key
    council.do(member, "accession", {"proposal": admission})
    assert council.state.actors[member].standing(council.now) == ACTIVE


def test_readmitted_member_does_not_count_on_proposals_submitted_before_it_withdrew() -> None:
    from domain.voting import effective_electorate

    council = Scenario(withdrawal_notice="0s")
    earlier = council.propose(category="military-operation", period=30 * DAY)  # ratification: silence would reject it
    _readmit(council, "rs")
    assert "rs" in council.state.open_proposals[earlier].electorate
    error = council.refused("rs", "vote.cast", {"proposal": earlier, "position": "object"})
    assert isinstance(error, RuleViolation) and error.rule == "vote.not-in-electorate"
    assert str(error) == f"vote.cast: rs is not in the electorate of {earlier}"
    for member in ("de", "fr", "pl", "ua", "by"):
        council.vote(member, earlier, "approve")
    assert "rs" not in effective_electorate(council.state, council.state.open_proposals[earlier], council.now)
    council.close(earlier)  # early, unanimous among the memberships that count
    assert council.state.decisions == 2
    later = council.propose(period=DAY)
    council.vote("rs", later, "object")
    assert council.state.open_proposals[later].positions["rs"] == "object"


def test_suspension_proposed_before_a_withdrawal_does_not_suspend_the_readmitted_member() -> None:
    council = Scenario(withdrawal_notice="0s")
    suspension = council.propose(category="suspension", period=30 * DAY, subject="rs", concerned=["rs"])
    _readmit(council, "rs")
    council.after_deadline(suspension)
    council.close(suspension)
    assert council.state.decisions == 2
    assert council.state.actors["rs"].standing(council.now) == ACTIVE
