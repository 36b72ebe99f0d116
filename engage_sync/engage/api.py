"""What reconcile/ needs of Engage, as a protocol: typed answers in (answers.py, leads.py), never
a response's keys. `EngageClient` is the implementation; a test may hand in a fake."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from ..ratelimit import SlidingWindows
from .answers import ActionResult, DialGroup, LoadResult
from .leads import LeadAction, LeadRecord
from .upload import Upload


class LeadsApi(Protocol):
    """Lead search and lead actions (campaign_leads.py)."""

    def search(
        self, account: str, campaign: int, extern_ids: Iterable[str]
    ) -> list[LeadRecord]: ...

    def search_phones(
        self,
        account: str,
        numbers: Sequence[str],
        campaigns: Sequence[int] | None = None,
        states: Sequence[str] | None = None,
        chunk: int | None = None,
    ) -> list[LeadRecord]: ...

    def search_states(
        self, account: str, states: Sequence[str], campaigns: Sequence[int] | None = None
    ) -> list[LeadRecord]: ...

    def search_states_at_most(
        self,
        account: str,
        states: Sequence[str],
        campaigns: Sequence[int] | None,
        pages: int,
    ) -> list[LeadRecord] | None: ...

    def scan(self, account: str, campaign: int) -> tuple[list[LeadRecord], bool]: ...

    def act(
        self, account: str, campaign: int, action: LeadAction, lead_ids: Sequence[int]
    ) -> ActionResult: ...


class EngageApi(Protocol):
    """The Engage Voice API as apply, refresh and import use it: campaigns, the loader, lead
    search and actions, and the pacing and waiting around them."""

    base_url: str
    max_retries: int
    sleep: Callable[[float], None]

    @property
    def leads(self) -> LeadsApi: ...

    @property
    def gone(self) -> str | None: ...

    def pacer(self, kind: str, account: str) -> SlidingWindows: ...

    def authenticate(self, accounts: Iterable[str] = (), campaigns: bool = False) -> None: ...

    def dial_groups_with_campaigns(self, account: str) -> list[DialGroup]: ...

    def load_leads(
        self, account: str, campaign: int, body: Upload | Mapping[str, Any]
    ) -> LoadResult: ...

    def remember(self, calls: Mapping[tuple[str, str], Iterable[float]]) -> None: ...

    def recent_calls(self) -> dict[tuple[str, str], list[float]]: ...

    def __enter__(self) -> EngageApi: ...

    def __exit__(self, *exc: object) -> None: ...
