"""The emulator's data: SQLite in memory by default, in a file with --data (survives restarts)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from typing import Any

from ..model import CONTACT_FIELDS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lists (
  list_id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, campaign INTEGER NOT NULL,
  description TEXT, created TEXT NOT NULL, options TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS leads (
  lead_id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, campaign INTEGER NOT NULL,
  list_id INTEGER NOT NULL, extern_id TEXT NOT NULL, phone TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS leads_phone ON leads (campaign, phone);
CREATE INDEX IF NOT EXISTS leads_id_campaign ON leads (campaign, lead_id);
CREATE INDEX IF NOT EXISTS leads_extern ON leads (campaign, extern_id);
"""


_LEAD_COLUMNS = (
    ("lead_state", "TEXT NOT NULL DEFAULT 'READY'"),
    ("suppressed", "INTEGER NOT NULL DEFAULT 0"),
    ("passes", "INTEGER NOT NULL DEFAULT 0"),
    # the phone's digits (an 11-digit one less its leading 1): a search by phone matches
    # them, however the phone was written when loaded or asked for
    ("phone_digits", "TEXT"),
)


def digits(phone: object) -> str:
    """`(303) 555-0142`, `+1 303 555 0142` and `3035550142` alike: `3035550142`."""
    text = "".join(c for c in str(phone or "").split("|")[0] if c.isdigit())
    return text[1:] if len(text) == 11 and text.startswith("1") else text


# what each lead action does (NOTES.md, from the guide); DELETE_LEADS removes the row
_ACTIONS = {
    "CANCEL_LEADS": "lead_state = 'CANCELLED'",
    "PAUSE_LEADS": "lead_state = 'PAUSED'",
    "READY_LEADS": "lead_state = 'READY'",
    "RESET_LEADS": "lead_state = 'READY', passes = 0",
    "SUPPRESS_LEADS": "suppressed = 1",
    "UNSUPPRESS_LEADS": "suppressed = 0",
}
ACTIONS = (*_ACTIONS, "DELETE_LEADS")


class Store:
    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.executescript(_SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(leads)")}
        for name, ddl in _LEAD_COLUMNS:  # a --data file from an older emulator gains them
            if name not in columns:
                self.db.execute(f"ALTER TABLE leads ADD COLUMN {name} {ddl}")
        self.db.create_function("digits", 1, digits, deterministic=True)
        self.db.execute("UPDATE leads SET phone_digits = digits(phone) WHERE phone_digits IS NULL")
        self.db.execute(
            "CREATE INDEX IF NOT EXISTS leads_phone_digits ON leads (account, phone_digits)"
        )
        self.db.execute(
            "PRAGMA journal_mode=WAL" if path != ":memory:" else "PRAGMA journal_mode=MEMORY"
        )
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('lead_id_start', '500000')")
        count = self.db.execute("SELECT COUNT(*) FROM leads").fetchone()[0]
        if count == 0:  # realistic ids, not 1, 2, 3
            self.db.execute(
                "INSERT OR IGNORE INTO sqlite_sequence (name, seq) VALUES ('leads', 500000)"
            )
            self.db.execute(
                "INSERT OR IGNORE INTO sqlite_sequence (name, seq) VALUES ('lists', 7000)"
            )

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def new_list(
        self, account: str, campaign: int, description: str, created: str, options: dict[str, Any]
    ) -> int:
        cur = self.db.execute(
            "INSERT INTO lists (account, campaign, description, created, options) "
            "VALUES (?,?,?,?,?)",
            (account, campaign, description, created, json.dumps(options, sort_keys=True)),
        )
        return int(cur.lastrowid or 0)

    def phone_exists(self, campaign: int, phone: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM leads WHERE campaign = ? AND phone = ? LIMIT 1", (campaign, phone)
        ).fetchone()
        return row is not None

    def delete_phone(self, campaign: int, phone: str) -> int:
        cur = self.db.execute(
            "DELETE FROM leads WHERE campaign = ? AND phone = ?", (campaign, phone)
        )
        return int(cur.rowcount)

    def insert_leads(
        self, account: str, campaign: int, list_id: int, leads: Iterable[dict[str, Any]]
    ) -> int:
        rows = [
            (
                account,
                campaign,
                list_id,
                str(lead.get("externId")),
                _phone(lead),
                json.dumps(lead, sort_keys=True),
                digits(_phone(lead)),
            )
            for lead in leads
        ]
        self.db.executemany(
            "INSERT INTO leads (account, campaign, list_id, extern_id, phone, data, phone_digits) "
            "VALUES (?,?,?,?,?,?,?)",
            rows,
        )
        return len(rows)

    def transaction(self) -> _Tx:
        return _Tx(self)

    @staticmethod
    def _where(account: str, criteria: dict[str, Any]) -> tuple[list[str], list[Any]]:
        where, args = ["l.account = ?"], [account]
        for key, column in (
            ("campaignIds", "l.campaign"),
            ("externIds", "l.extern_id"),
            ("leadIds", "l.lead_id"),
            ("leadPhoneNumbers", "l.phone_digits"),
            ("listIds", "l.list_id"),
        ):
            values = criteria.get(key)
            if values and key == "leadPhoneNumbers":
                values = [digits(v) for v in values]
            if values:
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                args.extend(values)
        states = criteria.get("leadStates")
        if states:
            where.append(f"l.lead_state IN ({','.join('?' * len(states))})")
            args.extend(str(s).upper().replace("_", "-") for s in states)
        suppressed = criteria.get("suppressed")
        if suppressed == "ONLY_SUPPRESSED":
            where.append("l.suppressed = 1")
        elif suppressed == "ONLY_UNSUPPRESSED":
            where.append("l.suppressed = 0")
        return where, args

    def leads(
        self, account: str, criteria: dict[str, Any], page: int, max_rows: int
    ) -> list[dict[str, Any]]:
        """Search rows shaped like the real server's (NOTES.md: a captured answer)."""
        where, args = self._where(account, criteria)
        sql = (
            "SELECT l.lead_id, l.campaign, l.list_id, l.extern_id, l.phone, l.data, s.description, "
            "s.created, l.lead_state, l.suppressed, l.passes FROM leads l "
            "JOIN lists s ON s.list_id = l.list_id WHERE "
            + " AND ".join(where)
            + " ORDER BY l.lead_id LIMIT ? OFFSET ?"
        )
        rows = self.db.execute(sql, [*args, max_rows, page * max_rows]).fetchall()
        return [_search_row(*row) for row in rows]

    def act(self, account: str, criteria: dict[str, Any], action: str) -> tuple[int, int]:
        """A lead action on every record the criteria match: (updated, deleted)."""
        where, args = self._where(account, criteria)
        match = f"lead_id IN (SELECT l.lead_id FROM leads l WHERE {' AND '.join(where)})"
        if action == "DELETE_LEADS":
            cur = self.db.execute(f"DELETE FROM leads WHERE {match}", args)
            return 0, int(cur.rowcount)
        change = _ACTIONS[action]
        cur = self.db.execute(f"UPDATE leads SET {change} WHERE {match}", args)
        return int(cur.rowcount), 0

    def by_phone(self, phone: str, campaign: int | None = None) -> list[int]:
        """The lead ids of the records with this phone (any formatting), for the admin side."""
        sql, args = "SELECT lead_id FROM leads WHERE phone_digits = ?", [digits(phone)]
        if campaign is not None:
            sql += " AND campaign = ?"
            args.append(str(campaign))
        return [int(r[0]) for r in self.db.execute(sql, args).fetchall()]

    def set_state(self, lead_ids: list[int], state: str | None, suppressed: bool | None) -> int:
        """What dialling (or an admin) does to records, for tests: /_emulator/leads/state."""
        marks = ",".join("?" * len(lead_ids))
        count = 0
        if state is not None:
            cur = self.db.execute(
                f"UPDATE leads SET lead_state = ? WHERE lead_id IN ({marks})",
                [state.upper().replace("_", "-"), *lead_ids],
            )
            count = int(cur.rowcount)
        if suppressed is not None:
            cur = self.db.execute(
                f"UPDATE leads SET suppressed = ? WHERE lead_id IN ({marks})",
                [int(suppressed), *lead_ids],
            )
            count = int(cur.rowcount)
        return count

    def all_leads(self, campaign: int | None) -> list[dict[str, Any]]:
        sql = (
            "SELECT l.lead_id, l.account, l.campaign, l.list_id, l.extern_id, l.data, "
            "s.description, l.lead_state, l.suppressed "
            "FROM leads l JOIN lists s ON s.list_id = l.list_id"
        )
        args: list[Any] = []
        if campaign is not None:
            sql += " WHERE l.campaign = ?"
            args.append(campaign)
        rows = self.db.execute(sql + " ORDER BY l.lead_id", args).fetchall()
        return [
            {
                "leadId": r[0],
                "accountId": r[1],
                "campaignId": r[2],
                "listId": r[3],
                "externId": r[4],
                "listDescription": r[6],
                "leadState": r[7],
                "suppressed": bool(r[8]),
                "lead": json.loads(r[5]),
            }
            for r in rows
        ]

    def lists(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT list_id, account, campaign, description, created FROM lists ORDER BY list_id"
        ).fetchall()
        return [
            {
                "listId": r[0],
                "accountId": r[1],
                "campaignId": r[2],
                "description": r[3],
                "created": r[4],
            }
            for r in rows
        ]


class _Tx:
    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> Store:
        self.store.lock.acquire()
        self.store.db.execute("BEGIN")
        return self.store

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            self.store.db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.store.lock.release()


def _phone(lead: dict[str, Any]) -> str | None:
    phone = lead.get("leadPhone") or lead.get("leadPhoneE164")
    return str(phone) if phone else None


def _search_row(
    lead_id: int,
    campaign: int,
    list_id: int,
    extern_id: str,
    phone: str | None,
    data: str,
    description: str,
    created: str,
    state: str,
    suppressed: int,
    passes: int,
) -> dict[str, Any]:
    body = json.loads(data)
    nested = {
        "leadId": lead_id,
        "externId": extern_id,
        "leadPhone": body.get("leadPhone"),
        "leadPhoneE164": body.get("leadPhoneE164"),
        "extendedLeadData": body.get("extendedLeadData") or {},
        "leadPriority": body.get("leadPriority"),
        "maxPasses": body.get("maxPasses"),
    }
    return {
        "leadId": lead_id,
        "externId": extern_id,
        "campaignId": campaign,
        "campaignName": None,  # filled by the app, which knows the campaigns
        "dialGroupId": None,
        "listId": list_id,
        "listDesc": description,
        "uploadDate": created,
        "loadedDts": created,
        "leadPhone": phone or body.get("leadPhoneE164"),
        "leadState": state,
        "suppressed": bool(suppressed),
        "leadPasses": passes,
        "maxPasses": body.get("maxPasses"),
        "extraData": {},
        **{k: body[k] for k in CONTACT_FIELDS if k in body},
        "campaignLead": nested,
    }
