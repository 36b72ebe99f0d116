"""Problems found while reading lead sets, and the duplicate checks that find some of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from sys import intern

from ..model import Problem, Severity

DUPLICATE_EFFECT = {
    "REMOVE_ALL_EXISTING": "Engage keeps only the last lead loaded with it",
    "REMOVE_FROM_LIST": "Engage will not insert the later lead",
    "RETAIN_ALL": "Engage keeps both as separate dial records",
}

# track(externId, phone or None, line) -> False when the externId was declared before
Tracker = Callable[[str, object, int], bool]


@dataclass
class Sink:
    """Collects problems while leads stream past; checks duplicates per campaign.

    For a million leads the checks keep only sets: the externIds, and the hashes of the phones
    (never the numbers). Where the first of two duplicates was declared is not kept; when a
    duplicate turns up, `resolve` reads the campaign's files once more to find it.
    """

    problems: list[Problem] = field(default_factory=list)
    shared_phones: dict[int, int] = field(default_factory=dict)  # campaign -> leads
    locate: set[object] | None = None  # a locating pass: record where these first appear
    located: dict[object, str] = field(default_factory=dict)
    _ids: dict[int, set[str]] = field(default_factory=dict)
    _phones: dict[int, set[int]] = field(default_factory=dict)
    _pending: dict[int, list[tuple[str, object, str, int, str]]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]

    def add(self, file: str, line: int, name: str, message: str, warn: bool = False) -> None:
        severity = Severity.WARNING if warn else Severity.ERROR
        self.problems.append(Problem(file, line, name, message, severity))

    def add_fatal(self, message: str) -> None:
        """A whole-file error whose message already says where (InputError)."""
        self.problems.append(Problem(message, 0, "", ""))

    def declared(self, campaign: int) -> set[str]:
        """The externIds declared so far for a campaign (a live view, filled as leads stream)."""
        return self._ids.setdefault(campaign, set())

    def tracker(self, campaign: int, duplicate_handling: object, file: str) -> Tracker:
        """The duplicate check for one campaign's leads in one file: called once per lead."""
        ids = self.declared(campaign)
        phones = self._phones.setdefault(campaign, set())
        pending = self._pending.setdefault(campaign, [])
        locate, located = self.locate, self.located
        handling = str(duplicate_handling)

        def track(extern_id: str, phone: object, line: int) -> bool:
            if extern_id in ids:
                pending.append(("externId", extern_id, file, line, handling))
                return False
            ids.add(intern(extern_id))  # shares the state's copy (state.py interns them too)
            key = hash(phone) if phone else None
            if locate is not None:
                for wanted in (extern_id, key):
                    if wanted in locate and wanted not in located:
                        located[wanted] = f"{file}:{line}"
            if key is not None:
                if key in phones:
                    pending.append(("leadPhone", key, file, line, handling))
                else:
                    phones.add(key)
            return True

        return track

    def has_pending(self, campaign: int) -> bool:
        return bool(self._pending.get(campaign))

    def resolve(
        self, campaign: int, first_seen: Callable[[set[object]], dict[object, str]]
    ) -> None:
        """Report the duplicates found in a campaign, naming where each was first declared;
        `first_seen(keys)` reads the campaign's files again to find those places."""
        pending = self._pending.pop(campaign, [])
        if not pending:
            return
        where = first_seen({key for _, key, _, _, _ in pending})
        for kind, key, file, line, handling in pending:
            first = where.get(key, "an earlier lead")
            if kind == "externId":
                self.add(
                    file,
                    line,
                    "externId",
                    f"duplicate externId '{key}' in campaign {campaign}: first declared at {first}",
                )
            else:
                self.shared_phones[campaign] = self.shared_phones.get(campaign, 0) + 1
                self.add(
                    file,
                    line,
                    "leadPhone",
                    f"same phone as the lead at {first}; with "
                    f"duplicateHandling {handling} {DUPLICATE_EFFECT.get(handling, '')}",
                    warn=True,
                )
