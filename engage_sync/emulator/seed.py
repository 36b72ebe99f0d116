"""The emulator's seed: accounts, dial groups, campaigns, credentials and knobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

DEMO_ACCOUNT = "99990001"


def default_seed() -> dict[str, Any]:
    """The demo account that the example lead sets in leadsets/ use."""
    return {
        "accounts": [
            {
                "accountId": DEMO_ACCOUNT,
                "accountName": "Demo Contact Centre",
                "dialGroups": [
                    {
                        "dialGroupId": 4100,
                        "dialGroupName": "Outbound Sales",
                        "dialGroupDesc": "Renewals and win-backs",
                        "dialMode": "PREDICTIVE",
                        "isActive": True,
                        "campaigns": [
                            {
                                "campaignId": 136785,
                                "campaignName": "Renewal Outreach",
                                "campaignDesc": "Spring renewals",
                                "isActive": 1,
                            },
                            {
                                "campaignId": 136792,
                                "campaignName": "Canada Win-back",
                                "campaignDesc": "Ontario win-back",
                                "isActive": 1,
                            },
                        ],
                    },
                    {
                        "dialGroupId": 4200,
                        "dialGroupName": "Marketing Callbacks",
                        "dialGroupDesc": "Event follow-up",
                        "dialMode": "PREVIEW",
                        "isActive": True,
                        "campaigns": [
                            {
                                "campaignId": 136790,
                                "campaignName": "Webinar Follow-up",
                                "campaignDesc": "Webinar attendees",
                                "isActive": 1,
                            },
                            {
                                "campaignId": 136799,
                                "campaignName": "Archived Survey",
                                "campaignDesc": "Old survey",
                                "isActive": 0,
                            },
                        ],
                    },
                ],
            }
        ],
        "credentials": {
            "clientId": "emulator-client-id",
            "clientSecret": "emulator-client-secret",
            "jwt": "emulator-jwt-assertion",
            "apiTokens": ["emulator-legacy-api-token"],
        },
        "settings": {},
    }


def load_seed(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read seed: {e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("accounts"), list):
        raise ConfigError(f"{path}: a seed needs an `accounts:` list (see the README)")
    base = default_seed()
    creds = {**base["credentials"], **(data.get("credentials") or {})}
    return {
        "accounts": data["accounts"],
        "credentials": creds,
        "settings": data.get("settings") or {},
    }
