"""The drift classifier (reconcile/drift.py) on plain records: what changed in Engage outside
engage-sync, per owned or removed externId."""

from __future__ import annotations

import pytest

from engage_sync.engage.leads import LeadRecord
from engage_sync.model import Drift, DriftKind
from engage_sync.reconcile.drift import classify, newest


def rec(lead_id: int, eid: str, phone: str = "4155550100", state: str = "READY", **kw: object):  # type: ignore[no-untyped-def]
    return LeadRecord(
        lead_id, eid, 7, phone, state, bool(kw.get("suppressed", False)), str(kw.get("loaded", ""))
    )


@pytest.mark.parametrize(
    ("records", "kind", "state"),
    [
        ([], DriftKind.MISSING, None),
        ([rec(1, "a", state="COMPLETE")], DriftKind.STOPPED, "COMPLETE"),
        ([rec(1, "a", suppressed=True)], DriftKind.STOPPED, "READY"),
        ([rec(1, "a"), rec(2, "a", loaded="2026-01-02")], DriftKind.DUPLICATE, "READY"),
        ([rec(1, "a", phone="2125550100")], DriftKind.CHANGED, "READY"),
        ([rec(1, "a")], None, None),
    ],
)
def test_each_kind_of_drift_of_an_owned_lead(
    records: list[LeadRecord], kind: DriftKind | None, state: str | None
) -> None:
    found = classify(7, records, ["a"], [], {"a": "4155550100"})
    assert [(d.extern_id, d.kind, d.lead_state) for d in found.items] == (
        [("a", kind, state)] if kind else []
    )


def test_removed_leads_dialable_again_and_records_engage_sync_does_not_own() -> None:
    records = [rec(1, "gone"), rec(2, "theirs"), rec(3, "theirs"), rec(4, "x", state="CANCELLED")]
    records.append(LeadRecord(5, "gone", 8, "4155550100", "READY", False))  # another campaign
    found = classify(7, records, [], ["gone", "x"], {})
    assert [(d.extern_id, d.kind) for d in found.items] == [("gone", DriftKind.REAPPEARED)]
    assert found.unmanaged == 2


def test_the_declared_phone_compares_by_digits() -> None:
    found = classify(7, [rec(1, "a")], ["a"], [], {"a": "(415) 555-0100"})
    assert found.items == ()


def test_a_planned_phone_change_is_not_drift() -> None:
    # the plan replaces the phone already: the caller leaves it out of declared_phones
    found = classify(7, [rec(1, "a", phone="2125550100")], ["a"], [], {})
    assert found.items == ()


def test_the_record_kept_of_duplicates_has_the_declared_phone_then_is_newest() -> None:
    old = rec(1, "a", loaded="2026-01-01")
    other = rec(2, "a", phone="2125550100", loaded="2026-03-01")
    assert newest([old, other], "4155550100") is old
    assert newest([old, other]) is other


def shown(lead_id: int, eid: str, **content: str) -> LeadRecord:
    return LeadRecord(lead_id, eid, 7, "4155550100", "READY", False, "", tuple(content.items()))


def test_a_record_differs_where_its_row_shows_another_value() -> None:
    declared = (("firstName", "Ada"), ("leadPhone", "4155550100"), ("zip", "02134"))
    assert shown(1, "a", firstName="ada ", zip="02134").differs_from(declared) == ()
    assert shown(1, "a", firstName="Eve").differs_from(declared) == ("firstName",)
    assert shown(1, "a", email="x@example.com").differs_from(declared) == ("email",)
    assert shown(1, "a").differs_from(declared) == ()  # a row that shows nothing proves nothing


def test_the_kept_duplicate_shows_the_declared_content_before_it_is_the_newest() -> None:
    matching, newer = shown(1, "a", firstName="Ada"), shown(2, "a", firstName="Zed")
    assert newest([matching, newer], "4155550100", (("firstName", "Ada"),)) is matching
    assert newest([matching, newer], "4155550100") is newer


def test_changed_content_is_drift_with_the_field_names() -> None:
    from engage_sync.model import Lead
    from engage_sync.reconcile.drift import CampaignDrift, content_drift, with_content

    ada = Lead.from_mapping(
        {"externId": "a", "leadPhone": "4155550100", "firstName": "Ada"}, "f", 1
    )
    bob = Lead.from_mapping(
        {"externId": "b", "leadPhone": "4155550100", "firstName": "Bob"}, "f", 2
    )
    records = [shown(1, "a", firstName="Eve"), shown(2, "b", firstName="Bob")]
    content = content_drift(7, records, iter([ada, bob]))
    found = with_content(CampaignDrift(7), content)
    assert [(d.extern_id, d.kind, d.fields) for d in found.items] == [
        ("a", DriftKind.CHANGED, ("firstName",))
    ]
    other = Drift(7, "a", DriftKind.STOPPED)  # a lead with other drift keeps that one only
    assert with_content(CampaignDrift(7, (other,)), content).items == (other,)
