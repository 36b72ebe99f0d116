"""Problems found while reading lead sets, and the duplicate checks that find some of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .model import Problem, Severity

DUPLICATE_EFFECT = {
    "REMOVE_ALL_EXISTING": "Engage keeps only the last lead loaded with it",
    "REMOVE_FROM_LIST": "Engage will not insert the later lead",
    "RETAIN_ALL": "Engage keeps both as separate dial records",
}

# track(externId, phone or None, line) -> False when the externId was declared before
Tracker = Callable[[str, object, int], bool]


@dataclass
class Sink:
    """Collects problems while leads stream past; checks duplicates per campaign."""

    problems: list[Problem] = field(default_factory=list)
    shared_phones: dict[int, int] = field(default_factory=dict)  # campaign -> leads
    _files: list[str] = field(default_factory=list)
    _file_base: dict[str, int] = field(default_factory=dict)
    _ids: dict[int, dict[str, int]] = field(default_factory=dict)
    _phones: dict[int, dict[int, int]] = field(default_factory=dict)

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

    def _base(self, file: str) -> int:
        base = self._file_base.get(file)
        if base is None:
            base = self._file_base[file] = len(self._files) << 32
            self._files.append(file)
        return base

    def _where(self, packed: int) -> str:
        return f"{self._files[packed >> 32]}:{packed & 0xFFFFFFFF}"

    def declared(self, campaign: int) -> dict[str, int]:
        """The externIds declared so far for a campaign (a live view, filled as leads stream)."""
        return self._ids.setdefault(campaign, {})

    def tracker(self, campaign: int, duplicate_handling: object, file: str) -> Tracker:
        """The duplicate check for one campaign's leads, called once per lead (keep it lean).

        Locations are (file index, line) packed in one int, and phones are kept as their hash,
        not the number: small for a million leads, and no PII held.
        """
        ids = self._ids.setdefault(campaign, {})
        phones = self._phones.setdefault(campaign, {})
        base = self._base(file)

        def track(extern_id: str, phone: object, line: int) -> bool:
            packed = base | line
            first = ids.setdefault(extern_id, packed)
            if first != packed:
                self.add(
                    file,
                    line,
                    "externId",
                    f"duplicate externId '{extern_id}' in campaign {campaign}: "
                    f"first declared at {self._where(first)}",
                )
                return False
            if phone:
                earlier = phones.setdefault(hash(phone), packed)
                if earlier != packed:
                    self.shared_phones[campaign] = self.shared_phones.get(campaign, 0) + 1
                    effect = DUPLICATE_EFFECT.get(str(duplicate_handling), "")
                    self.add(
                        file,
                        line,
                        "leadPhone",
                        f"same phone as the lead at {self._where(earlier)}; with "
                        f"duplicateHandling {duplicate_handling} {effect}",
                        warn=True,
                    )
            return True

        return track
