"""engage/campaign_leads.py: CampaignLeads against an in-memory Api (the paced, retried requests
of the client, faked): what each search asks for and keeps, how it pages, what an action sends.
Paging past a clamped maxRows, a server ignoring paging or externIds, pacing, and actions refused
before sending are in test_client.py (through the emulator and httpx.MockTransport)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from engage_sync.engage.campaign_leads import CampaignLeads
from engage_sync.engage.leads import LeadAction
from engage_sync.errors import ApiError, UnsafeAction

ACCOUNT = "99990001"
SEARCH = f"/api/v1/admin/accounts/{ACCOUNT}/campaignLeads/leadSearch"


def row(lead_id: int, eid: str, campaign: int = 7, phone: str = "4155550100", **kw: Any) -> dict:
    return {
        "leadId": lead_id,
        "externId": eid,
        "campaignId": campaign,
        "leadPhone": phone,
        "leadState": kw.pop("state", "READY"),
        **kw,
    }


class Api:
    """Engage's lead search over `rows`, filtered as the server filters (campaignIds,
    externIds, leadPhoneNumbers by digits, leadStates) unless `ignores` names a criterion,
    paged by `maxRows`; every request kept. An action answers `answer`."""

    def __init__(self, rows: list[dict[str, Any]], ignores: frozenset[str] = frozenset()) -> None:
        self.rows = rows
        self.ignores = ignores
        self.sent: list[tuple[str, str, Any, Any]] = []
        self.answer: Any = {"success": True, "leadUpdateCount": 1}

    def pacer(self, kind: str, account: str) -> Any:
        return (kind, account)

    def server_text(self, text: object, sent: Any = None) -> str:
        return f"[scrubbed] {text}"

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        pacer: Any = None,
        repeatable: bool = True,
    ) -> Any:
        self.sent.append((method, path, json, pacer))
        if "leadSearch" not in path:
            return self.answer
        query = parse_qs(urlsplit(path).query)
        page, size = int(query["page"][0]), int(query["maxRows"][0])
        found = [r for r in self.rows if self._matches(r, json)]
        return found[page * size : (page + 1) * size]

    def _matches(self, r: dict[str, Any], criteria: dict[str, Any]) -> bool:
        checks = {
            "campaignIds": lambda v: r["campaignId"] in v,
            "externIds": lambda v: r["externId"] in v,
            "leadPhoneNumbers": lambda v: (
                r["leadPhone"] in {"".join(filter(str.isdigit, n))[-10:] for n in v}
            ),
            "leadStates": lambda v: r["leadState"] in v,
        }
        return all(
            check(criteria[name])
            for name, check in checks.items()
            if name in criteria and name not in self.ignores
        )

    def searches(self) -> list[dict[str, Any]]:
        return [body for _, path, body, _ in self.sent if "leadSearch" in path and "page=0" in path]


# -- search by externId ----------------------------------------------------------------------------
def test_a_search_asks_for_a_few_externids_at_a_time_in_one_campaign() -> None:
    api = Api([row(i, f"L-{i}") for i in range(1, 6)] + [row(9, "L-1", campaign=8)])
    leads = CampaignLeads(api, search_chunk=2)
    found = leads.search(ACCOUNT, 7, ["L-5", "L-1", "L-3", "L-1", "L-9"])
    assert [(r.lead_id, r.extern_id) for r in found] == [(1, "L-1"), (3, "L-3"), (5, "L-5")]
    assert api.searches() == [
        {"campaignIds": [7], "externIds": ["L-1", "L-3"]},  # sorted, each once
        {"campaignIds": [7], "externIds": ["L-5", "L-9"]},
    ]
    method, path, _, pacer = api.sent[0]
    assert (method, pacer) == ("POST", ("search", ACCOUNT))
    assert path == f"{SEARCH}?page=0&maxRows=1000"


@pytest.mark.parametrize("ignored", ["campaignIds", "externIds"])
def test_a_search_keeps_only_the_rows_it_asked_for_when_the_server_ignores_a_criterion(
    ignored: str,
) -> None:
    api = Api(
        [row(1, "L-1"), row(2, "L-1", campaign=8), row(3, "L-2")], ignores=frozenset({ignored})
    )
    assert [r.lead_id for r in CampaignLeads(api).search(ACCOUNT, 7, ["L-1"])] == [1]


def test_no_externid_sends_no_search() -> None:
    api = Api([row(1, "L-1")])
    assert CampaignLeads(api).search(ACCOUNT, 7, []) == [] and api.sent == []


# -- search across campaigns ---------------------------------------------------------------------
def test_a_phone_search_keeps_every_campaigns_rows_once() -> None:
    rows = [
        row(1, "A", 7, "4155550100"),
        row(2, "B", 8, "4155550100"),
        row(3, "C", 8, "4155550199"),
        row(4, "D", 9, "4155550123"),
    ]
    api = Api(rows)
    leads = CampaignLeads(api, search_chunk=2)
    forms = ["+14155550100", "4155550100", "4155550199"]
    found = leads.search_phones(ACCOUNT, forms)
    assert [(r.lead_id, r.campaign_id) for r in found] == [(1, 7), (2, 8), (3, 8)]
    assert api.searches() == [
        {"leadPhoneNumbers": ["+14155550100", "4155550100"]},  # no campaigns: the account
        {"leadPhoneNumbers": ["4155550199"]},
    ]


def test_a_phone_search_names_campaigns_and_states_when_given() -> None:
    api = Api([row(1, "A", 7, state="DO-NOT-CALL"), row(2, "B", 8, state="DO-NOT-CALL")])
    leads = CampaignLeads(api, search_chunk=500)
    found = leads.search_phones(ACCOUNT, ["4155550100"], [8, 7], states=["DO-NOT-CALL"], chunk=1)
    assert [r.lead_id for r in found] == [1, 2]
    assert api.searches() == [
        {"leadPhoneNumbers": ["4155550100"], "campaignIds": [7, 8], "leadStates": ["DO-NOT-CALL"]}
    ]
    leads.search_phones(ACCOUNT, ["1", "2", "3"], chunk=2, states=[])  # `chunk` wins
    assert [len(c["leadPhoneNumbers"]) for c in api.searches()[1:]] == [2, 1]
    assert all("leadStates" not in c for c in api.searches()[1:])  # none asked: none sent


def test_a_state_search_names_the_states_and_campaigns() -> None:
    rows = [row(1, "A", 7, state="DO-NOT-CALL"), row(2, "B", 8, state="DO_NOT_CALL")]
    api = Api(rows)
    leads = CampaignLeads(api)
    found = leads.search_states(ACCOUNT, ["DO-NOT-CALL", "DO_NOT_CALL"])
    assert [r.state for r in found] == ["DO-NOT-CALL", "DO-NOT-CALL"]  # one spelling
    assert leads.search_states(ACCOUNT, ["DO-NOT-CALL"], [8]) == []
    assert api.searches() == [
        {"leadStates": ["DO-NOT-CALL", "DO_NOT_CALL"]},
        {"leadStates": ["DO-NOT-CALL"], "campaignIds": [8]},
    ]


def test_a_state_search_at_most_so_many_pages_says_none_when_there_are_more() -> None:
    rows = [row(i, f"L-{i}", state="DO-NOT-CALL") for i in range(1, 6)]
    api = Api(rows)
    leads = CampaignLeads(api, search_page_size=2)
    found = leads.search_states_at_most(ACCOUNT, ["DO-NOT-CALL"], [7], 4)
    assert found is not None and [r.lead_id for r in found] == [1, 2, 3, 4, 5]
    assert len(api.sent) == 4  # three pages and an empty one
    assert leads.search_states_at_most(ACCOUNT, ["DO-NOT-CALL"], None, 3) is None
    assert len(api.sent) == 7  # never a search past the third
    assert api.searches()[-1] == {"leadStates": ["DO-NOT-CALL"]}
    # a server that ignores paging: what it answered may not be all
    api.request = lambda *args, **kwargs: [rows[0]]  # type: ignore[method-assign]
    assert leads.search_states_at_most(ACCOUNT, ["DO-NOT-CALL"], None, 3) is None


# -- a whole campaign ------------------------------------------------------------------------------
def test_a_scan_pages_until_an_empty_page_and_keeps_its_campaign() -> None:
    api = Api([row(i, f"L-{i}") for i in range(1, 6)] + [row(9, "X", campaign=8)])
    leads = CampaignLeads(api, search_page_size=2)
    records, complete = leads.scan(ACCOUNT, 7)
    assert complete and [r.lead_id for r in records] == [1, 2, 3, 4, 5]
    pages = [parse_qs(urlsplit(path).query)["page"][0] for _, path, _, _ in api.sent]
    assert pages == ["0", "1", "2", "3"]  # the last one empty
    assert all(body == {"campaignIds": [7]} for _, _, body, _ in api.sent)


def test_a_scan_that_sees_nothing_new_says_it_is_not_complete() -> None:
    api = Api([row(1, "A"), row(2, "B"), row(3, "C")])
    pages: list[int] = []

    def same_page(*args: Any, **kwargs: Any) -> Any:  # whatever page was asked
        pages.append(len(pages))
        assert len(pages) < 5, "paging never ended"
        return [row(1, "A")]

    api.request = same_page  # type: ignore[method-assign]
    records, complete = CampaignLeads(api).scan(ACCOUNT, 7)
    assert not complete and [r.lead_id for r in records] == [1] and pages == [0, 1]


def test_an_unreadable_row_is_an_error_naming_its_page() -> None:
    api = Api([{"leadId": 1, "campaignId": 7}])
    with pytest.raises(ApiError, match=r"leadSearch \(page 0\): row 0"):
        CampaignLeads(api).scan(ACCOUNT, 7)


# -- actions ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "count_key"),
    [(LeadAction.CANCEL, "leadUpdateCount"), (LeadAction.DELETE, "leadDeleteCount")],
)
def test_an_action_names_one_campaign_and_its_lead_ids(action: LeadAction, count_key: str) -> None:
    api = Api([])
    api.answer = {"success": True, count_key: 2}
    result = CampaignLeads(api).act(ACCOUNT, 7, action, (11, 12))
    assert result.success is True and result.count == 2
    ((method, path, body, pacer),) = api.sent
    assert method == "PUT" and pacer == ("actions", ACCOUNT)
    assert (
        path == f"/api/v1/admin/accounts/{ACCOUNT}/campaignLeads/actions?leadAction={action.value}"
    )
    assert body == {
        "campaignLeadSearchCriteria": {"campaignIds": [7], "leadIds": [11, 12]},
        "leadActionParams": {"paramMap": {}},
    }


def test_an_action_answered_success_false_says_the_servers_words_scrubbed() -> None:
    api = Api([])
    api.answer = {"success": False, "errorMessage": "lead 4155550100 locked"}
    with pytest.raises(ApiError) as e:
        CampaignLeads(api).act(ACCOUNT, 7, LeadAction.CANCEL, [1])
    assert str(e.value) == "CANCEL_LEADS answered success: false: [scrubbed] lead 4155550100 locked"


@pytest.mark.parametrize("campaign", [-3, "7", 7.0, None])
def test_an_action_on_no_single_campaign_is_refused_before_sending(campaign: Any) -> None:
    api = Api([])
    with pytest.raises(UnsafeAction):
        CampaignLeads(api).act(ACCOUNT, campaign, LeadAction.DELETE, [1])
    assert api.sent == []
