"""What a server's answer may put in front of anyone (engage/redaction.py): secrets and token
shapes out, the values of the request out, a short printable excerpt (issue #29, finding 6)."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote_plus

import pytest

from engage_sync.engage.redaction import (
    EXCERPT,
    REDACTED,
    WINDOW,
    RedactingFilter,
    Redactor,
    excerpt,
    values_sent,
)

TOKEN = "engage-Q2hhbmdlTWUhIFRoaXMgaXMgYSB0b2tlbg"
LOADER_BODY = {
    "description": "Spring renewals",
    "duplicateHandling": "REMOVE_ALL_EXISTING",
    "uploadLeads": [
        {
            "externId": "R-1001",
            "leadPhone": "4155550100",
            "firstName": "Zoë",
            "lastName": "Núñez",
            "email": "zoe@example.com",
            "address1": "12 Byron Road",
            "extendedLeadData": {"plan": "platinum"},
        },
        {"externId": "R-1002", "leadPhone": "2125550142", "firstName": "Al", "zip": "94105"},
    ],
}


@pytest.mark.parametrize(
    "spelling",
    [TOKEN, quote_plus(TOKEN + "/+="), json.dumps(TOKEN + '"')[1:-1]],
    ids=["raw", "url-encoded", "json-escaped"],
)
def test_a_known_secret_is_redacted_however_it_is_spelt(spelling: str) -> None:
    redactor = Redactor([TOKEN, TOKEN + "/+=", TOKEN + '"'])
    said = redactor.server_text(f"you sent {spelling} and that is wrong")
    assert said == f"you sent {REDACTED} and that is wrong"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("header Authorization: Bearer abc.def-ghi_jkl", "header Authorization: Bearer"),
        ("sent Basic dXNlcjpwYXNz=", "sent Basic"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl given", "token"),
        ('{"x-auth-token": "short-but-secret"}', '{"x-auth-token": "'),
        ("refresh_token=abc123&rcTokenType=Bearer", "refresh_token="),
        ("'rcAccessToken': 'rc-opaque'", "'rcAccessToken': '"),
    ],
)
def test_anything_shaped_like_a_credential_is_redacted_unknown_as_it_is(
    text: str, kept: str
) -> None:
    for said in (Redactor().server_text(text), Redactor().secrets(text)):
        assert REDACTED in said and said.startswith(kept)
        assert "abc" not in said and "secret" not in said and "eyJ" not in said
        assert "opaque" not in said and "dXNl" not in said


def test_an_unknown_opaque_token_is_redacted_from_server_text() -> None:
    said = Redactor().server_text("session a1B2c3D4e5F6g7H8i9J0k1L2m3N4 expired")
    assert said == f"session {REDACTED} expired"
    # long words without digits, and long numbers without letters, are not tokens
    assert Redactor().server_text("internationalisationally") == "internationalisationally"


def test_the_values_the_request_carried_are_removed_from_what_the_server_says() -> None:
    echoed = json.dumps(LOADER_BODY)  # ensure_ascii: Zoë is spelt Zo\u00eb
    raw = json.dumps(LOADER_BODY, ensure_ascii=False)
    for text in (echoed, raw, "lead ZOË NÚÑEZ at 12 byron road: bad"):
        said = Redactor().server_text(text[: EXCERPT * 4], LOADER_BODY)
        for value in ("Zo", "N\\u00fa", "Núñez", "Byron", "zoe@", "4155550100", "platinum"):
            assert value.casefold() not in said.casefold(), (value, said)
    said = Redactor().server_text("Al, Alabama and ALGOL: bad phone 212-555-0142", LOADER_BODY)
    assert said == f"{REDACTED}, Alabama and ALGOL: bad phone {REDACTED}"


def test_values_whose_case_folds_longer_are_found_too() -> None:
    said = Redactor().server_text("STRASSE and Straße ok", {"leads": [{"street": "Straße"}]})
    assert said == f"{REDACTED} and {REDACTED} ok"


def test_identifiers_and_the_request_options_stay_in_what_the_server_says() -> None:
    said = Redactor().server_text(
        "R-1001 rejected: duplicateHandling REMOVE_ALL_EXISTING (Spring renewals)", LOADER_BODY
    )
    assert said == "R-1001 rejected: duplicateHandling REMOVE_ALL_EXISTING (Spring renewals)"
    assert "R-1001" not in values_sent(LOADER_BODY)
    assert "Spring renewals" not in values_sent(LOADER_BODY)
    assert {"Zoë", "Al", "94105", "platinum"} <= values_sent(LOADER_BODY)


def test_searched_phones_count_as_sent_values() -> None:
    criteria = {"campaignIds": [136785], "leadPhoneNumbers": ["4155550100", "+14155550100"]}
    assert values_sent(criteria) == {"4155550100", "+14155550100"}
    assert values_sent({"campaignIds": [1], "externIds": ["a@b.c"], "leadIds": [7]}) == set()


def test_phones_and_emails_are_redacted_even_when_not_sent() -> None:
    said = Redactor().server_text("call +1 (415) 555-0199 or mail x.y@example.org now")
    assert said == f"call {REDACTED} or mail {REDACTED} now"


@pytest.mark.parametrize(
    "control",
    ["\n", "\r", "\x1b]8;;http://evil\x07", "\x1b[31m", "\u202e", "\x00", "\u2028", "\x85"],
)
def test_a_server_message_is_one_printable_line(control: str) -> None:
    said = Redactor().server_text(f"bad{control}thing\n::error::forged")
    assert said.isprintable() and "\n" not in said
    assert said.startswith("bad") and said.endswith("::error::forged")


def test_a_server_message_is_cut_to_a_short_excerpt_and_only_its_start_is_read() -> None:
    said = Redactor().server_text("word " * 100_000)
    assert len(said) <= EXCERPT and said.endswith("...")
    assert excerpt("short") == "short"
    # a secret far past the window is not looked for, and cannot be shown either
    far = "x " * WINDOW + TOKEN
    assert TOKEN not in Redactor([TOKEN]).server_text(far)
    # nor the start of one the window cuts, brought into view by what was redacted before it
    value = "v" * (WINDOW - 20)
    cut = f"{value} {TOKEN}"
    said = Redactor([TOKEN]).server_text(cut, {"leads": [value]})
    assert said == REDACTED


def test_secrets_shorter_than_three_characters_are_not_blotted_out_everywhere() -> None:
    assert Redactor(["t", ""]).server_text("not the token") == "not the token"


def test_tokens_added_later_are_redacted_from_the_log() -> None:
    redactor = Redactor(["configured-secret"])
    log_filter = RedactingFilter(redactor)
    redactor.add("minted-later-token")
    args = ("configured-secret", "minted-later-token", "ok")
    record = logging.LogRecord("x", logging.INFO, "f", 1, "%s %s %s", args, None)
    log_filter.filter(record)
    assert record.getMessage() == f"{REDACTED} {REDACTED} ok"
    record = logging.LogRecord("x", logging.INFO, "f", 1, "Authorization: Bearer abc", (), None)
    log_filter.filter(record)
    assert record.getMessage() == f"Authorization: Bearer {REDACTED}"
