"""Phones to E.164 and the keyed hash that stands for them (donotcall/phones.py, keys.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engage_sync.donotcall import keys, phones
from engage_sync.errors import ConfigError


@pytest.mark.parametrize(
    "text, region, want",
    [
        ("(303) 555-0142", "US", "+13035550142"),
        ("303.555.0142", "US", "+13035550142"),
        ("+1 303 555 0142", "US", "+13035550142"),
        ("1-303-555-0142", "US", "+13035550142"),
        ("3035550142", "US", "+13035550142"),
        ("+1 303 555 0142", "GB", "+13035550142"),  # a country code wins over the region
        ("020 7946 0018", "GB", "+442079460018"),
        ("12", "US", None),
        ("not a phone", "US", None),
        ("", "US", None),
    ],
)
def test_usual_formattings_are_one_phone(text: str, region: str, want: str | None) -> None:
    assert phones.e164(text, region) == want


@given(st.from_regex(r"[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True))
def test_the_fast_path_agrees_with_libphonenumber(digits: str) -> None:
    phones._parse.cache_clear()
    assert phones.e164(digits, "US") == phones._parse(digits, "US")


def test_a_search_is_sent_every_form_a_phone_may_have_been_loaded_in() -> None:
    assert phones.search_forms("+13035550142") == ("+13035550142", "13035550142", "3035550142")
    assert phones.record_phones("3035550142|(303) 555-0143", "US") == (
        "+13035550142",
        "+13035550143",
    )


def test_a_keyed_hash_needs_the_key_and_names_it_without_revealing_it() -> None:
    secret = keys.key_from_env({keys.ENV: "a" * 32})
    assert secret is not None and secret.kind == "secret"
    other = keys.key_from_env({keys.ENV: "b" * 32})
    assert other is not None
    assert secret.digest("+13035550142") != other.digest("+13035550142")
    assert len(secret.digest("+13035550142")) == 24
    assert secret.to_json() == {"kind": "secret", "id": secret.ident}
    assert "a" * 32 not in str(secret.to_json())
    with pytest.raises(ConfigError, match="at least 16 characters"):
        keys.key_from_env({keys.ENV: "short"})


def test_a_state_keeps_the_key_its_first_hash_was_made_with() -> None:
    salt = keys.PhoneKey.new_salt()
    env = {keys.ENV: "s" * 32}
    same, note = keys.resolve(salt.to_json(), env)
    assert same == salt and "ENGAGE_SYNC_PHONE_KEY is set" in note
    secret = keys.key_from_env(env)
    assert secret is not None
    assert keys.resolve(secret.to_json(), env) == (secret, "")
    missing, why = keys.resolve(secret.to_json(), {})
    assert missing is None and "which is not set" in why
    wrong, why = keys.resolve(secret.to_json(), {keys.ENV: "t" * 32})
    assert wrong is None and "is not the key" in why
    assert keys.resolve(None, {}) == (None, "")
