"""The emulator's data: SQLite in memory by default, in a file with --data (survives restarts)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lists (
  list_id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, campaign INTEGER NOT NULL,
  description TEXT, created TEXT NOT NULL, options TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS leads (
  lead_id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, campaign INTEGER NOT NULL,
  list_id INTEGER NOT NULL, extern_id TEXT NOT NULL, phone TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS leads_phone ON leads (campaign, phone);
CREATE INDEX IF NOT EXISTS leads_extern ON leads (campaign, extern_id);
"""


class Store:
    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.executescript(_SCHEMA)
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
            )
            for lead in leads
        ]
        self.db.executemany(
            "INSERT INTO leads (account, campaign, list_id, extern_id, phone, data) "
            "VALUES (?,?,?,?,?,?)",
            rows,
        )
        return len(rows)

    def transaction(self) -> _Tx:
        return _Tx(self)

    def leads(
        self, account: str, criteria: dict[str, Any], page: int, max_rows: int
    ) -> list[dict[str, Any]]:
        where, args = ["l.account = ?"], [account]
        for key, column in (
            ("campaignIds", "l.campaign"),
            ("externIds", "l.extern_id"),
            ("leadIds", "l.lead_id"),
            ("leadPhoneNumbers", "l.phone"),
            ("listIds", "l.list_id"),
        ):
            values = criteria.get(key)
            if values:
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                args.extend(values)
        sql = (
            "SELECT l.lead_id, l.campaign, l.list_id, l.extern_id, l.phone, l.data, s.description "
            "FROM leads l JOIN lists s ON s.list_id = l.list_id WHERE "
            + " AND ".join(where)
            + " ORDER BY l.lead_id LIMIT ? OFFSET ?"
        )
        rows = self.db.execute(sql, [*args, max_rows, page * max_rows]).fetchall()
        result = []
        for lead_id, campaign, list_id, extern_id, phone, data, description in rows:
            body = json.loads(data)
            result.append(
                {
                    **body,
                    "leadId": lead_id,
                    "campaignId": campaign,
                    "listId": list_id,
                    "listDescription": description,
                    "externId": extern_id,
                    "leadPhone": phone or body.get("leadPhoneE164"),
                    "leadState": "READY",
                }
            )
        return result

    def all_leads(self, campaign: int | None) -> list[dict[str, Any]]:
        sql = (
            "SELECT l.lead_id, l.account, l.campaign, l.list_id, l.extern_id, l.data, "
            "s.description "
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
