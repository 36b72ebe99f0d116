"""Do not call, by phone (issue #30): a person who opted out is never dialled again.

phones.py   phone numbers to E.164 (Google's libphonenumber, as `phonenumbers`), and the forms
            a lead search is sent
keys.py     the keyed hash that stands for a phone in every file engage-sync writes
lists.py    `doNotCall:` entries and `doNotCallFile:` CSV files in the lead-set folder, streamed,
            every problem at file:line
registry.py the do-not-call set a plan and an apply check leads against: the phones the
            repository names, and the keyed hashes the state keeps
"""

from __future__ import annotations

from .keys import PhoneKey, key_from_env
from .phones import e164, search_forms

__all__ = ["PhoneKey", "e164", "key_from_env", "search_forms"]
