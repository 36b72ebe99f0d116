"""What Engage answers, read into typed values in one place each (engage/answers.py, leads.py):
the shape the API documents, a field renamed or missing, a field of another type, a value too
large. A wrong shape is one error naming the endpoint and the field, never the value: an answer
may copy a token or a lead back."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from test_client import BODY, FakeClock, mocked

from engage_sync.engage import EngageApi
from engage_sync.engage.answers import (
    ActionResult,
    Campaign,
    DialGroup,
    LoadResult,
    RejectedRow,
    Tokens,
    account_ids,
    read_campaigns,
    read_groups,
)
from engage_sync.engage.leads import LeadAction, LeadRecord, read_page
from engage_sync.engage.redaction import Redactor
from engage_sync.errors import AnswerLost, ApiError, AuthError

LEAKED = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2VjcmV0"  # a token an answer copied back
PHONE = "4155550100"
clean = Redactor([LEAKED]).server_text


def assert_names_no_value(error: BaseException, where: str, field: str) -> None:
    said = str(error)
    assert said.startswith(where), said
    assert field in said, said
    assert LEAKED not in said and PHONE not in said and "Zoë" not in said, said
    assert len(said) < 300


# -- the direct lead loader -----------------------------------------------------------------------
LOADED = {
    "leadsSupplied": 2,
    "leadsAccepted": 2,
    "leadsInserted": 1,
    "leadsConverted": 0,
    "processingResult": "OK",
    "processingStatus": "DEFAULT_NOT_A_FAILURE",
    "message": "Your uploaded lead list has successfully completed processing",
    "rejectedRows": [{"message": f"bad phone {PHONE}", "rowData": ["E-2", PHONE, "Zoë"]}],
}


def load(answer: object, sent: tuple[str, ...] = ("E-1", "E-2")) -> LoadResult:
    return LoadResult.parse(answer, sent, len(sent), clean)


def test_a_loader_answer_reads_counts_status_and_rejected_rows() -> None:
    result = load(LOADED)
    assert result == LoadResult(
        "OK",
        "DEFAULT_NOT_A_FAILURE",
        "Your uploaded lead list has successfully completed processing",
        supplied=2,
        accepted=2,
        inserted=1,
        rejected=(RejectedRow(("E-2",), "bad phone [redacted]"),),
    )
    assert result.failure is None


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"processingResult": "Failed"}, "Failed"),
        ({"processingStatus": "NO_LEADS_PASSED_VALIDATION"}, "NO_LEADS_PASSED_VALIDATION"),
        ({"leadsSupplied": 0}, "leadsSupplied 0"),
        ({"processingResult": "Failed", "processingStatus": "GENERAL_FAILURE"}, "GENERAL_FAILURE"),
    ],
)
def test_a_loader_200_can_be_a_failure(changes: dict[str, Any], why: str) -> None:
    assert load({**LOADED, **changes}).failure == why


def test_a_loader_answer_with_its_counts_renamed_has_none_and_is_looked_up() -> None:
    """A count renamed in a new API version reads as unknown: the loader looks the leads up
    (counted 0 + rejected < posted), never takes them as loaded."""
    renamed = {k.replace("leads", "lead"): v for k, v in LOADED.items()}
    result = load(renamed)
    assert (result.supplied, result.accepted, result.inserted) == (None, None, None)
    assert result.failure is None and result.rejected[0].extern_ids == ("E-2",)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("leadsAccepted", "two"),
        ("leadsInserted", 1.5),
        ("leadsSupplied", -1),
        ("leadsAccepted", True),
        ("leadsInserted", 10**30),  # huge
        ("leadsAccepted", "9" * 40),  # huge, as digits
        ("processingResult", {"ok": LEAKED}),
        ("message", [LEAKED]),
        ("rejectedRows", {"rowData": [PHONE]}),
    ],
)
def test_a_loader_field_of_another_type_names_the_field_not_the_value(
    field: str, value: object
) -> None:
    with pytest.raises(ApiError) as e:
        load({**LOADED, field: value})
    assert_names_no_value(e.value, "leadLoader/direct", field)


@pytest.mark.parametrize(
    "rows",
    [["not a row"], [{"rowData": PHONE}], [{"message": 5}], [{}, {}, {}]],
    ids=["a text", "rowData a text", "a number message", "more rows than leads"],
)
def test_rejected_rows_of_another_shape_are_errors(rows: list[Any]) -> None:
    with pytest.raises(ApiError) as e:
        load({**LOADED, "rejectedRows": rows})
    assert_names_no_value(e.value, "leadLoader/direct", "rejectedRows")


def test_a_huge_loader_message_is_cut_and_rows_keep_only_externids_sent() -> None:
    result = load(
        {
            **LOADED,
            "message": f"{LEAKED} " + "x" * 100_000,
            "rejectedRows": [{"rowData": [{"nested": "E-1"}, 7, "E-1", "E-9"]}],
        }
    )
    assert len(result.message) <= 200 and LEAKED not in result.message
    assert result.rejected == (RejectedRow(("E-1",), None),)


def test_a_loader_answer_of_another_shape_is_a_lost_answer_through_the_client() -> None:
    """The leads may be loaded: apply looks them up (reconcile/loader.py) rather than trust it."""
    answer = {**LOADED, "leadsAccepted": {"echo": LEAKED}}
    client = mocked(lambda r: httpx.Response(200, json=answer), FakeClock())
    lead = {"externId": "E-1", "leadPhone": PHONE, "firstName": "Zoë"}
    with client, pytest.raises(AnswerLost) as e:
        client.load_leads("1", 2, {**BODY, "uploadLeads": [lead]})
    assert_names_no_value(e.value, "leadLoader/direct", "leadsAccepted")
    assert str(e.value).endswith("the leads may or may not be loaded")


# -- lead actions ---------------------------------------------------------------------------------
ACTED = {
    "success": True,
    "leadActionType": "CANCEL_LEADS",
    "leadUpdateCount": 3,
    "leadDeleteCount": 0,
    "errorMessage": None,
}


def test_an_action_answer_counts_what_the_action_changed() -> None:
    assert ActionResult.parse(ACTED, LeadAction.CANCEL, clean) == ActionResult(True, 3)
    deleted = {**ACTED, "leadUpdateCount": 0, "leadDeleteCount": 2}
    assert ActionResult.parse(deleted, LeadAction.DELETE, clean).count == 2
    assert ActionResult.parse(None, LeadAction.CANCEL, clean) == ActionResult()  # a 204


def test_an_action_answer_with_its_count_renamed_has_none() -> None:
    renamed = {"success": True, "updatedCount": 3}
    assert ActionResult.parse(renamed, LeadAction.CANCEL, clean) == ActionResult(True, None)


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ({**ACTED, "success": "yes"}, "success"),
        ({**ACTED, "leadUpdateCount": "3 records"}, "leadUpdateCount"),
        ({**ACTED, "leadUpdateCount": 2**60}, "leadUpdateCount"),  # huge
        ({**ACTED, "errorMessage": {"token": LEAKED}}, "errorMessage"),
        ([ACTED], "an object"),
    ],
)
def test_an_action_answer_of_another_shape_names_the_field(answer: object, field: str) -> None:
    with pytest.raises(ApiError) as e:
        ActionResult.parse(answer, LeadAction.CANCEL, clean)
    assert_names_no_value(e.value, "campaignLeads/actions (CANCEL_LEADS)", field)


def test_an_action_error_message_is_redacted_and_cut() -> None:
    said = f"no: {LEAKED} {PHONE} " + "y" * 10_000
    result = ActionResult.parse({"success": False, "errorMessage": said}, LeadAction.CANCEL, clean)
    assert result.success is False and len(result.error) <= 200
    assert LEAKED not in result.error and PHONE not in result.error


# -- lead search rows -----------------------------------------------------------------------------
ROW = {
    "leadId": 11,
    "externId": "E-1",
    "campaignId": 136785,
    "leadPhone": PHONE,
    "leadState": "READY",
    "suppressed": False,
    "loadedDts": "2026-03-02T10:00:00Z",
    "firstName": "Zoë",
    "campaignLead": {
        "leadPhoneE164": "+14155550100",
        "extendedLeadData": {"plan": "gold", "bad\nname": "x"},
    },
}


def test_a_search_row_reads_the_record_and_its_nested_lead() -> None:
    r = LeadRecord.parse(ROW)
    assert (r.lead_id, r.extern_id, r.campaign_id, r.phone) == (11, "E-1", 136785, PHONE)
    assert r.state == "READY" and r.dialable and r.loaded == "2026-03-02T10:00:00Z"
    assert r.phones == (PHONE, "+14155550100")
    # a custom field name no lead set can declare is never compared, nor shown in a plan
    assert r.content == (("extendedLeadData.plan", "gold"), ("firstName", "Zoë"))


@pytest.mark.parametrize(
    ("renamed", "field"),
    [
        ("leadId", "leadId"),
        ("campaignId", "campaignId"),
        ("externId", "externId"),
        ("leadState", "leadState"),
        ("leadPhone", "leadPhone"),
    ],
)
def test_a_search_row_with_a_field_renamed_is_an_error(renamed: str, field: str) -> None:
    """A renamed identifier must not make every record vanish (apply would post them again)."""
    row = {(f"{k}V2" if k == renamed else k): v for k, v in ROW.items()}
    row["campaignLead"] = {}
    with pytest.raises(ApiError) as e:
        LeadRecord.parse(row, "leadSearch (page 0): row 3")
    assert_names_no_value(e.value, "leadSearch (page 0): row 3", field)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("leadId", "eleven"),
        ("leadId", 0),
        ("leadId", 10**20),  # huge
        ("campaignId", [136785]),
        ("externId", {"id": PHONE}),
        ("leadPhone", {"n": PHONE}),
        ("leadPhone", "1" * 5000),  # huge
        ("leadState", ["READY"]),
        ("suppressed", "maybe"),
        ("firstName", {"given": "Zoë"}),
        ("campaignLead", PHONE),
        ("extendedLeadData", [PHONE]),
    ],
)
def test_a_search_row_field_of_another_type_names_the_field(field: str, value: object) -> None:
    row = {**ROW, field: value}
    if field == "extendedLeadData":  # the nested copy is read first
        row["campaignLead"] = {field: value}
    with pytest.raises(ApiError) as e:
        LeadRecord.parse(row)
    assert_names_no_value(e.value, "leadSearch", field)


@pytest.mark.parametrize("extern_id", [None, "x" * 256, "E-1\n::error::forged", "E\u202e1"])
def test_an_externid_no_lead_set_can_declare_reads_as_not_ours(extern_id: object) -> None:
    """Such a record is still a record (a do-not-call sweep cancels it by lead id), but it is
    never one of the lead sets' and its externId is never shown."""
    r = LeadRecord.parse({**ROW, "externId": extern_id})
    assert r.extern_id == "" and r.lead_id == 11


def test_a_huge_field_value_is_cut_so_it_differs_from_any_declared_one() -> None:
    r = LeadRecord.parse({**ROW, "firstName": "z" * 1_000_000, "loadedDts": "9" * 10_000})
    first = dict(r.content)["firstName"]
    assert len(first) < 4200 and r.differs_from(
        [("firstName", "z" * 4096), ("extendedLeadData.plan", "gold")]
    ) == ("firstName",)
    assert len(r.loaded) < 50


def test_a_search_page_is_a_list_an_envelope_or_nothing() -> None:
    assert [r.lead_id for r in read_page([ROW])] == [11]
    assert [r.lead_id for r in read_page({"content": [ROW]})] == [11]
    assert read_page(None) == [] and read_page({}) == []
    with pytest.raises(ApiError, match=r"^leadSearch: is a text, not a list of leads$"):
        read_page(LEAKED)


# -- dial groups and campaigns --------------------------------------------------------------------
GROUPS = [
    {
        "dialGroupId": 4100,
        "dialGroupName": "Outbound Sales",
        "isActive": True,
        "campaigns": [{"campaignId": 136785, "campaignName": "Renewal Outreach", "isActive": 1}],
    },
    {"dialGroupId": "4200", "dialGroupName": "Callbacks"},  # no campaigns: asked for them
]


def test_dial_groups_read_with_their_campaigns_or_without() -> None:
    (first, listed), (second, unlisted) = read_groups(GROUPS, "dialGroups/withChildren")
    assert first == DialGroup(
        4100, "Outbound Sales", True, (Campaign(136785, "Renewal Outreach", True),)
    )
    assert listed
    assert second == DialGroup(4200, "Callbacks") and not unlisted
    assert first.as_json()["campaigns"] == [
        {"campaignId": 136785, "campaignName": "Renewal Outreach", "isActive": True}
    ]
    campaigns = read_campaigns([{"campaignId": 7, "isActive": 0}], "dialGroups/4200/campaigns")
    assert campaigns == (Campaign(7, "", False),)


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ([{"groupId": 4100}], "dialGroupId"),  # renamed
        ([{"dialGroupId": 4100, "campaigns": [{"id": 1}]}], "campaignId"),  # renamed
        ([{"dialGroupId": 4100, "campaigns": {"campaignId": 1}}], "campaigns"),
        ([{"dialGroupId": 4100, "campaigns": [{"campaignId": 1, "isActive": "yes"}]}], "isActive"),
        ([{"dialGroupId": 4100, "dialGroupName": ["x"]}], "dialGroupName"),
        ([{"dialGroupId": 2**64}], "dialGroupId"),  # huge
        ({"dialGroups": []}, "not a list"),
    ],
)
def test_dial_groups_of_another_shape_name_the_field(answer: object, field: str) -> None:
    with pytest.raises(ApiError) as e:
        read_groups(answer, "dialGroups/withChildren")
    assert_names_no_value(e.value, "dialGroups/withChildren", field)


def test_a_huge_campaign_name_is_cut_so_it_matches_no_declared_name() -> None:
    (c,) = read_campaigns([{"campaignId": 1, "campaignName": "n" * 100_000}], "dialGroups")
    assert len(c.name) == 258 and c.name != "n" * 255


def test_campaigns_of_another_shape_fall_back_to_one_call_per_group() -> None:
    """dialGroups/withChildren is not what real clients use: an answer of another shape there
    is asked again the documented way."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path.rsplit("/accounts/42", 1)[1])
        if request.url.path.endswith("/withChildren"):
            return httpx.Response(200, json=[{"groupId": 7}])
        if request.url.path.endswith("/dialGroups"):
            return httpx.Response(200, json=[{"dialGroupId": 7}])
        return httpx.Response(200, json=[{"campaignId": 1, "campaignName": "C"}])

    with mocked(handler, FakeClock()) as client:
        groups = client.dial_groups_with_campaigns("42")
    assert groups == [DialGroup(7, "", None, (Campaign(1, "C"),))]
    assert calls == ["/dialGroups/withChildren", "/dialGroups", "/dialGroups/7/campaigns"]


# -- tokens and accounts --------------------------------------------------------------------------
LOGIN = {
    "accessToken": "engage-access",
    "refreshToken": "engage-refresh",
    "tokenType": "Bearer",
    "mainAccountId": "99990000",
    "agentDetails": [{"accountId": "99990002"}, {"accountId": 99990001}, {"agentId": 5}],
}


def test_a_login_answer_reads_tokens_and_accounts_and_never_shows_a_token() -> None:
    tokens = Tokens.from_engage(LOGIN)
    assert (tokens.access, tokens.refresh, tokens.main_account) == (
        "engage-access",
        "engage-refresh",
        "99990000",
    )
    assert tokens.account_ids == ("99990001", "99990002")
    assert "engage-" not in repr(tokens)
    rc = Tokens.from_ringcentral({"access_token": "rc-access", "refresh_token": "a b"})
    assert rc.access == "rc-access" and rc.refresh is None  # not a token: never used nor shown


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ({**LOGIN, "accessToken": None}, "accessToken"),
        ({"access_token": "engage-access"}, "accessToken"),  # renamed
        ({**LOGIN, "accessToken": "x" * 10_000}, "accessToken"),  # huge
        ({**LOGIN, "agentDetails": {"accountId": "1"}}, "agentDetails"),
        ({**LOGIN, "agentDetails": [{"accountId": LEAKED}]}, "accountId"),
        ({**LOGIN, "mainAccountId": ["1"]}, "mainAccountId"),
        ([LOGIN], "an object"),
    ],
)
def test_a_login_answer_of_another_shape_is_an_auth_error(answer: object, field: str) -> None:
    with pytest.raises(AuthError) as e:
        Tokens.from_engage(answer)
    assert_names_no_value(e.value, "Engage's login answer", field)


def test_the_accounts_answer_lists_account_ids() -> None:
    assert account_ids([{"accountId": "2"}, {"accountId": 1}], "accounts") == ("1", "2")
    with pytest.raises(ApiError, match=r"^accounts: is an object, not a list"):
        account_ids({"accountId": "1"}, "accounts")


# -- the protocol reconcile/ talks to -------------------------------------------------------------
class FakeLeads:
    """Lead search over records held in memory: what a test of reconcile/ can hand in."""

    def __init__(self, records: list[LeadRecord]) -> None:
        self.records = records

    def search(self, account: str, campaign: int, extern_ids: Any) -> list[LeadRecord]:
        wanted = set(extern_ids)
        return [r for r in self.records if r.campaign_id == campaign and r.extern_id in wanted]


class FakeEngage:
    def __init__(self, records: list[LeadRecord]) -> None:
        self.leads = FakeLeads(records)


def test_reconcile_reads_typed_records_from_whatever_implements_the_protocol() -> None:
    from engage_sync.model import Lead
    from engage_sync.reconcile.adopt import adopt

    held = LeadRecord.parse(ROW)
    leads = [
        Lead.from_mapping({"externId": e, "leadPhone": PHONE}, "f.yaml", 1) for e in ("E-1", "E-2")
    ]
    api: Any = FakeEngage([held])
    result = adopt(api, "1", 136785, leads)
    assert [x.extern_id for x in result.adopted] == ["E-1"]
    assert result.lines == ["  + E-2  no record: apply will create it"]


def test_the_client_implements_the_protocol() -> None:
    """mypy checks it (cli/ hands an EngageClient to functions that take an EngageApi); this
    names the members the protocol asks for, so a rename shows here too."""
    members = [m for m in dir(EngageApi) if not m.startswith("_")]
    client = mocked(lambda r: httpx.Response(200, json=[]), FakeClock())
    with client:
        assert all(hasattr(client, m) for m in members)
    assert {"leads", "load_leads", "dial_groups_with_campaigns", "pacer"} <= set(members)
