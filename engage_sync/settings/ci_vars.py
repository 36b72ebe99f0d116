"""The variables CI services set, listed in one place: when any is set (to anything but empty,
`false` or `0`), lead values never go to the output (cli/common.py) and a loopback Engage host
must be named in ENGAGE_SYNC_ALLOWED_HOSTS (engage/hosts.py). One list, so the two promises hold
on the same CI services."""

from __future__ import annotations

import os
from collections.abc import Mapping

CI_VARIABLES = (
    "CI",
    "CONTINUOUS_INTEGRATION",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "BUILDKITE",
    "JENKINS_URL",
    "HUDSON_URL",
    "TF_BUILD",
    "CIRCLECI",
    "TRAVIS",
    "BITBUCKET_BUILD_NUMBER",
    "TEAMCITY_VERSION",
    "DRONE",
    "CODEBUILD_BUILD_ID",
    "APPVEYOR",
    "SEMAPHORE",
    "CF_BUILD_ID",
    "BUILD_BUILDID",
)

_UNSET = ("", "false", "0")


def ci_markers(env: Mapping[str, str] | None = None) -> list[str]:
    """The CI variables set in `env` (this process's environment by default), in list order."""
    env = os.environ if env is None else env
    return [v for v in CI_VARIABLES if env.get(v, "").strip().lower() not in _UNSET]
