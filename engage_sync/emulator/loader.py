"""The emulator's direct lead loader: request checks, duplicate handling by phone, one lead list
per call, the full result body, rate limits and injected faults (NOTES.md, direct lead loader)."""

from __future__ import annotations

import re
from typing import Any

import jsonschema

from .http import DropConnection, HttpError, Request, now
from .shared import Shared


class Loader:
    """POST .../campaigns/{id}/leadLoader/direct."""

    def __init__(self, shared: Shared, validator: jsonschema.Draft4Validator) -> None:
        self.shared = shared
        self.validator = validator

    def load(
        self,
        req: Request,
        environ: dict[str, Any],
        account_id: str,
        account: dict[str, Any],
        campaign_id: int,
    ) -> tuple[int, Any]:
        campaign = next(
            (
                c
                for g in account.get("dialGroups", [])
                for c in g.get("campaigns", [])
                if int(c["campaignId"]) == campaign_id
            ),
            None,
        )
        if campaign is None:
            raise HttpError(404, "CAMPAIGN_NOT_FOUND", f"campaign {campaign_id} not found")
        self.shared.limit(
            account_id,
            "loader",
            self.shared.settings.loader_limits,
            environ.get("emulator.arrived"),
        )
        body = req.json()
        carried = frozenset(
            str(x.get("externId"))
            for x in (body.get("uploadLeads") or [] if isinstance(body, dict) else [])
            if isinstance(x, dict)
        )
        fault = self.shared.fault("loader", environ, req, carried)
        errors = sorted(self.validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            where = "/".join(str(x) for x in first.absolute_path) or "body"
            raise HttpError(400, "INVALID_REQUEST", f"{where}: {first.message}")
        leads = body.get("uploadLeads") or []
        if len(leads) > self.shared.settings.max_leads_per_call:
            raise HttpError(
                400,
                "TOO_MANY_LEADS",
                f"{len(leads)} leads in one call; the maximum is "
                f"{self.shared.settings.max_leads_per_call}",
            )
        if fault is not None and fault.kind == "unsupplied":
            return 200, _result(body, 0, 0, 0, 0, [], message="missing.required.param")
        if fault is not None and fault.kind == "failed":
            return 200, _result(
                body,
                len(leads),
                0,
                0,
                0,
                [],
                failed="GENERAL_FAILURE",
                message="injected failure: the list was not loaded",
            )
        rejected: list[dict[str, Any]] = []
        good: list[dict[str, Any]] = []
        for i, lead in enumerate(leads):
            problem = _lead_problem(lead, body)
            if problem is None and fault is not None and fault.kind == "reject" and i < fault.rows:
                problem = "injected rejection"
            if problem:
                rejected.append({"message": problem, "rowData": _row_data(lead)})
            else:
                good.append(lead)
        if not good:
            return 200, _result(
                body,
                len(leads),
                0,
                0,
                0,
                rejected,
                failed="NO_LEADS_PASSED_VALIDATION",
                message="No leads passed validation",
            )
        mode = body.get("duplicateHandling", "RETAIN_ALL")
        inserted = deleted = 0
        scrubbed = 0
        if fault is not None and fault.kind == "scrub":  # accepted, then dropped as do-not-call
            scrubbed = min(fault.rows, len(good))
            good = good[scrubbed:]
        with self.shared.store.transaction() as store:
            list_id = store.new_list(
                account_id,
                campaign_id,
                str(body.get("description") or ""),
                now(),
                {k: v for k, v in body.items() if k != "uploadLeads"},
            )
            batch_phones: dict[str, int] = {}
            to_insert: list[dict[str, Any]] = []
            for lead in good:
                phone = str(lead.get("leadPhone") or lead.get("leadPhoneE164") or "")
                if mode == "REMOVE_ALL_EXISTING":
                    deleted += store.delete_phone(campaign_id, phone)
                    if phone in batch_phones:
                        to_insert[batch_phones[phone]] = {}
                        deleted += 1
                elif mode == "REMOVE_FROM_LIST" and (
                    phone in batch_phones or store.phone_exists(campaign_id, phone)
                ):
                    continue
                batch_phones[phone] = len(to_insert)
                to_insert.append(lead)
            inserted = store.insert_leads(
                account_id, campaign_id, list_id, [x for x in to_insert if x]
            )
        if fault is not None and fault.kind == "lost":
            drop = environ.get("emulator.drop")
            if drop is None:
                raise DropConnection("injected lost answer (the leads were stored)")
            drop()
            return 500, {}
        result = _result(body, len(leads), len(good) + scrubbed, inserted, deleted, rejected)
        result["internalDncCount"] = scrubbed
        return 200, result


def _result(
    body: dict[str, Any],
    supplied: int,
    accepted: int,
    inserted: int,
    deleted: int,
    rejected: list[dict[str, Any]],
    failed: str | None = None,
    message: str = "",
) -> dict[str, Any]:
    return {
        "leadsSupplied": supplied,
        "leadsAccepted": accepted,
        "leadsInserted": inserted,
        "leadsConverted": 0,
        "deletedCount": deleted,
        "hasDeletedLeads": deleted > 0,
        "dncReturnedCount": 0,
        "dncUploadCount": 0,
        "internalDncCount": 0,
        "whitelistCount": 0,
        "quotaCount": 0,
        "failedAgentAssignment": 0,
        "listState": body.get("listState", "ACTIVE"),
        "timeZoneOption": body.get("timeZoneOption", "NOT_APPLICABLE"),
        "processingResult": "Failed" if failed else "OK",
        "processingStatus": failed or "DEFAULT_NOT_A_FAILURE",
        "message": message
        or ("Leads loaded" if not rejected else f"{len(rejected)} row(s) rejected"),
        "rejectedRows": rejected,
    }


_US_PHONE = re.compile(r"^[0-9]{10}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _lead_problem(lead: dict[str, Any], body: dict[str, Any]) -> str | None:
    if not lead.get("externId"):
        return "externId is required"
    phone, e164 = lead.get("leadPhone"), lead.get("leadPhoneE164")
    if not phone and not e164:
        return "leadPhone is required"
    if (
        phone
        and not body.get("phoneNumbersI18nEnabled")
        and not all(_US_PHONE.match(p) for p in str(phone).split("|"))
    ):
        return "Invalid phone number"
    if e164 and not _E164.match(str(e164)):
        return "Invalid E.164 phone number"
    empty = [k for k, v in lead.items() if v == ""]
    if empty:
        return f"empty value for {empty[0]}"
    tz = body.get("timeZoneOption")
    if tz == "EXPLICIT" and not lead.get("leadTimezone"):
        return "leadTimezone is required for EXPLICIT time zones"
    if tz == "ZIPCODE" and not lead.get("zip"):
        return "zip is required for ZIPCODE time zones"
    return None


_ROW_FIELDS = (
    "externId",
    "leadPhone",
    "leadPhoneE164",
    "firstName",
    "lastName",
    "address1",
    "city",
    "state",
    "zip",
    "email",
)


def _row_data(lead: dict[str, Any]) -> list[str]:
    return [str(lead.get(k, "")) for k in _ROW_FIELDS]
