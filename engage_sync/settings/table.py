"""The settings table: every setting's flag, environment variable, engage-sync.yaml key and
default, declared here once. Commands declare their options from these rows (cli/common.py
`setting_option`), the rest of the code reads a value through `resolve` or `chosen`, and
docs/settings.md's tables are rendered from them (doc.py; tests/test_settings.py checks --help,
the config schema and the page against this table).

Every environment variable engage-sync reads is a row here, the credentials too (engage/auth.py
takes exactly one kind of them, from the environment only). The variables a CI service, GitHub
Actions or the terminal sets are not settings: PLATFORM lists them, for docs/settings.md. Not
here either: the settings inside `rails:` and `optOuts:` (their defaults are their classes':
config.Rails, optouts.calendar.OptOutRules), and flags that only say what one run does (--force,
--out, ...).
"""

from __future__ import annotations

from ..ratelimit import ACTION_LIMITS, LOADER_LIMITS, SEARCH_LIMITS
from .setting import Kind, Setting

ENGAGE = ("apply", "campaigns", "plan", "import", "optouts pull")  # the commands that reach Engage
EVERY = ("",)  # a global option: before the command name, or after it where the command reads it

# name, flag, environment variable, engage-sync.yaml key, default, kind, help
# the credentials: exactly one kind (engage/auth.py), from the environment only, never shown
CLIENT_ID = Setting(
    "client_id", None, "RINGCENTRAL_CLIENT_ID", None, None, Kind.TEXT,
    "The RingCentral JWT app's client id (with RINGCENTRAL_CLIENT_SECRET and RINGCENTRAL_JWT)",
)  # fmt: skip
CLIENT_SECRET = Setting(
    "client_secret", None, "RINGCENTRAL_CLIENT_SECRET", None, None, Kind.SECRET,
    "The RingCentral JWT app's client secret",
)  # fmt: skip
JWT = Setting(
    "jwt", None, "RINGCENTRAL_JWT", None, None, Kind.SECRET,
    "A RingCentral JWT credential, exchanged for an Engage token (the recommended kind)",
)  # fmt: skip
RC_SERVER = Setting(
    "rc_server", None, "RINGCENTRAL_SERVER_URL", None, "https://platform.ringcentral.com",
    Kind.TEXT, "The RingCentral platform the JWT is exchanged at",
)  # fmt: skip
ACCESS_TOKEN = Setting(
    "access_token", None, "ENGAGE_ACCESS_TOKEN", None, None, Kind.SECRET,
    "A ready Engage access token (instead of the JWT)",
)  # fmt: skip
API_TOKEN = Setting(
    "api_token", None, "ENGAGE_API_TOKEN", None, None, Kind.SECRET,
    "A legacy permanent Engage API token, sent as X-Auth-Token (instead of the JWT)",
)  # fmt: skip
CONFIG = Setting(
    "config", "--config", "ENGAGE_SYNC_CONFIG", None, "engage-sync.yaml", Kind.PATH,
    "Settings file", commands=EVERY,
)  # fmt: skip
STATE = Setting(
    "state", "--state", "ENGAGE_SYNC_STATE", "state", "engage-sync.state.json", Kind.PATH,
    "State file (the file's setting must stay in the repository)", commands=EVERY,
)  # fmt: skip
LEADSETS = Setting(
    "leadsets", None, None, "leadsets", "leadsets", Kind.PATH,
    "The folder plan and apply read when given no path",
)  # fmt: skip
ACCOUNT = Setting(
    "account", "--account", "ENGAGE_ACCOUNT_ID", "account", None, Kind.TEXT,
    "Engage account id", commands=ENGAGE,
)  # fmt: skip
BASE_URL = Setting(
    "base_url", "--base-url", "ENGAGE_BASE_URL", "baseUrl",
    "https://ringcx.ringcentral.com/voice",  # NOTES.md, Hosts: the current name
    Kind.TEXT, "Voice API base URL", commands=ENGAGE,
)  # fmt: skip
BATCH_SIZE = Setting(
    "batch_size", "--batch-size", None, "batchSize", 500, Kind.INT,
    "Leads per loader call", commands=("apply", "ci apply"), low=1, high=10_000,
)  # fmt: skip
LOOKUP_DELAY = Setting(
    "lookup_delay", None, "ENGAGE_SYNC_LOOKUP_DELAY", "lookupDelay", 2.0, Kind.SECONDS,
    "Seconds before looking up leads whose loader answer was lost", low=0,
)  # fmt: skip
LOADER_RATE = Setting(
    "loader_limits", None, "ENGAGE_SYNC_LOADER_LIMITS", "rateLimits.loader", LOADER_LIMITS,
    Kind.LIMITS, "Loader calls per window (COUNT/SECONDS,...): the documented limits",
)  # fmt: skip
SEARCH_RATE = Setting(
    "search_limits", None, "ENGAGE_SYNC_SEARCH_LIMITS", "rateLimits.search", SEARCH_LIMITS,
    Kind.LIMITS, "Lead searches (campaignLeads/leadSearch) per window",
)  # fmt: skip
ACTION_RATE = Setting(
    "action_limits", None, "ENGAGE_SYNC_ACTION_LIMITS", "rateLimits.actions", ACTION_LIMITS,
    Kind.LIMITS, "Lead actions (campaignLeads/actions) per window",
)  # fmt: skip
RATE_SCALE = Setting(
    "rate_scale", "--rate-scale", "ENGAGE_SYNC_RATE_SCALE", None, 1.0, Kind.NUMBER,
    "Run the rate-limit pacing this many times faster (emulator tests only)",
    commands=("apply", "ci apply"),
)  # fmt: skip
MAX_RETRIES = Setting(
    "max_retries", "--max-retries", "ENGAGE_SYNC_MAX_RETRIES", None, 6, Kind.INT,
    "Retries of a failing call", commands=("apply",), low=0, high=100,
)  # fmt: skip
TIMEOUT = Setting(
    "timeout", "--timeout", "ENGAGE_SYNC_TIMEOUT", None, 60.0, Kind.SECONDS,
    "Seconds to wait for one answer", commands=("apply",), low=0.1,
)  # fmt: skip
GIVE_UP_AFTER = Setting(
    "give_up_after", None, "ENGAGE_SYNC_GIVE_UP_AFTER", None, 4, Kind.INT,
    "Connections refused in a row before the server is taken to be gone (nothing more is sent)",
)  # fmt: skip
MAX_IN_FLIGHT = Setting(
    "max_in_flight", None, "ENGAGE_SYNC_MAX_IN_FLIGHT", None, None, Kind.INT,
    "Loader calls in flight at once", low=1, shown="as many as the limits admit",
)  # fmt: skip
LOOK_FIRST = Setting(
    "look_first", "--look-first", None, None, "auto", Kind.CHOICE,
    "Look creates up in Engage before posting them: the first batch of each campaign (all of "
    "them once one is found), or all; auto probes where a second load would keep two records "
    "(RETAIN_ALL) or the state is shared (git tracks it: another clone may have applied; ci "
    "apply always, as a state that never reached git must not load twice)",
    commands=("apply", "ci apply"), choices=("auto", "off", "probe", "all"),
)  # fmt: skip
PROGRESS_SECONDS = Setting(
    "progress_seconds", None, "ENGAGE_SYNC_PROGRESS_SECONDS", None, 5.0, Kind.SECONDS,
    "Off a terminal, seconds between progress lines on standard error (0 turns them off)",
)  # fmt: skip
ALLOWED_HOSTS = Setting(
    "allowed_hosts", None, "ENGAGE_SYNC_ALLOWED_HOSTS", None, None, Kind.TEXT,
    "Hosts besides RingCentral's that may receive credentials (host or host:port, commas or "
    "spaces; never read from a file)", shown="none",
)  # fmt: skip
PHONE_KEY = Setting(
    "phone_key", None, "ENGAGE_SYNC_PHONE_KEY", None, None, Kind.SECRET,
    "The secret the state's phone hashes are keyed with (at least 16 characters)",
    shown="the state's own salt",
)  # fmt: skip
TODAY = Setting(
    "today", None, "ENGAGE_SYNC_TODAY", None, None, Kind.DATE,
    "The day opt-out deadlines are counted to (YYYY-MM-DD)", shown="today",
)  # fmt: skip
PLAN_DIR = Setting(
    "plan_dir", "--out-dir", "ENGAGE_SYNC_PLAN_DIR", None, "plan-output", Kind.PATH,
    "Where plan.md, plan.json and changes.tsv go (keep it as the run's artifact)",
    commands=("ci plan",),
)  # fmt: skip
REVIEWED_CHECKSUM = Setting(
    "reviewed_checksum", "--checksum", "ENGAGE_SYNC_REVIEWED_CHECKSUM", None, None, Kind.TEXT,
    "Apply main's plan only if it has this checksum (a plan reviewed on main) instead of the "
    "plans reviewed on the merged pull requests", commands=("ci apply",),
)  # fmt: skip
REPORT_DIR = Setting(
    "report_dir", "--report-dir", "ENGAGE_SYNC_REPORT_DIR", None, "apply-output", Kind.PATH,
    "Where the apply report goes (keep it as the run's artifact)", commands=("ci apply",),
)  # fmt: skip
BRANCH = Setting(
    "branch", "--branch", "ENGAGE_SYNC_BRANCH", None, "main", Kind.TEXT,
    "The branch applied and the state committed to; in GitHub Actions the run must be on it",
    commands=("ci apply",),
)  # fmt: skip
PLAN_WORKFLOW = Setting(
    "plan_workflow", "--plan-workflow", "ENGAGE_SYNC_PLAN_WORKFLOW", None,
    ".github/workflows/plan.yml", Kind.PATH,
    "The workflow whose runs' plans count as reviews", commands=("ci apply",),
)  # fmt: skip
APPLY_WORKFLOW = Setting(
    "apply_workflow", "--apply-workflow", "ENGAGE_SYNC_APPLY_WORKFLOW", None,
    ".github/workflows/apply.yml", Kind.PATH,
    "The workflow whose apply reports vouch for a rescue branch", commands=("ci apply",),
)  # fmt: skip
PUSH_ATTEMPTS = Setting(
    "push_attempts", "--push-attempts", "ENGAGE_SYNC_PUSH_ATTEMPTS", None, 5, Kind.INT,
    "Pushes of the state commit, rebased onto main between them", commands=("ci apply",),
    low=1, high=20,
)  # fmt: skip
PUSH_BACKOFF = Setting(
    "push_backoff", "--push-backoff", "ENGAGE_SYNC_PUSH_BACKOFF", None, 2.0, Kind.SECONDS,
    "Seconds before the second push, doubling each time", commands=("ci apply",), low=0,
)  # fmt: skip
BOT_LOGIN = Setting(
    "bot_login", None, "ENGAGE_SYNC_BOT_LOGIN", None, "github-actions[bot]", Kind.TEXT,
    "Who writes the plan comments (a GitHub App's bot instead of GITHUB_TOKEN's)",
)  # fmt: skip
MAX_ARTIFACT_BYTES = Setting(
    "max_artifact_bytes", None, "ENGAGE_SYNC_MAX_ARTIFACT_BYTES", None, 512 << 20, Kind.BYTES,
    "The largest plan artifact (zip) ci apply downloads",
)  # fmt: skip
MAX_CHANGESET_BYTES = Setting(
    "max_changeset_bytes", None, "ENGAGE_SYNC_MAX_CHANGESET_BYTES", None, 512 << 20, Kind.BYTES,
    "The largest change set ci apply reads out of an artifact",
)  # fmt: skip
SOURCE_SHA = Setting(
    "source_sha", None, "ENGAGE_SYNC_SOURCE_SHA", None, None, Kind.TEXT,
    "The commit a plan comment's file links point at",
    shown="the pull request's head, else GITHUB_SHA",
)  # fmt: skip
DRIFT_DIR = Setting(
    "drift_dir", "--out-dir", "ENGAGE_SYNC_DRIFT_DIR", None, "drift-output", Kind.PATH,
    "Where drift.json and drift.txt go", commands=("ci drift",),
)  # fmt: skip
EMULATOR_ADMIN_TOKEN = Setting(
    "emulator_admin_token", "--admin-token", "ENGAGE_SYNC_EMULATOR_ADMIN_TOKEN", None, None,
    Kind.SECRET,
    "Require Authorization: Bearer TOKEN on /_emulator/* (at least 16 characters)",
    commands=("emulator",),
)  # fmt: skip
OPTIONS = Setting(
    "options", None, None, "options", None, Kind.MAPPING,
    "Load options every lead set starts from (a lead set's own options win)",
)  # fmt: skip
PRUNE = Setting(
    "prune", None, None, "prune", False, Kind.FLAG,
    "The default for lead sets that do not say: cancel leads no file declares",
)  # fmt: skip
PRUNE_ACTION = Setting(
    "prune_action", None, None, "pruneAction", "cancel", Kind.CHOICE,
    "What prune and tombstones do to a record: cancel it or delete it",
    choices=("cancel", "delete"),
)  # fmt: skip
RAILS = Setting(
    "rails", None, None, "rails", None, Kind.MAPPING,
    "Safety rails: apply refuses (exit 3) past these unless --force",
    shown="each rail's own (docs/leadsets.md)",
)  # fmt: skip
OPT_OUTS = Setting(
    "opt_outs", None, None, "optOuts", None, Kind.MAPPING,
    "Opt-out deadlines and do not call (docs/optouts.md)",
    shown="each setting's own (docs/leadsets.md)",
)  # fmt: skip

SETTINGS: tuple[Setting, ...] = (
    CONFIG, STATE, LEADSETS, ACCOUNT, BASE_URL, CLIENT_ID, CLIENT_SECRET, JWT, RC_SERVER,
    ACCESS_TOKEN, API_TOKEN, BATCH_SIZE, LOOKUP_DELAY, LOADER_RATE,
    SEARCH_RATE, ACTION_RATE, RATE_SCALE, MAX_RETRIES, TIMEOUT, GIVE_UP_AFTER, MAX_IN_FLIGHT,
    LOOK_FIRST, PROGRESS_SECONDS, ALLOWED_HOSTS, PHONE_KEY, TODAY, OPTIONS, PRUNE, PRUNE_ACTION,
    RAILS, OPT_OUTS, PLAN_DIR, REVIEWED_CHECKSUM, REPORT_DIR, BRANCH,
    PLAN_WORKFLOW, APPLY_WORKFLOW, PUSH_ATTEMPTS, PUSH_BACKOFF, BOT_LOGIN, MAX_ARTIFACT_BYTES,
    MAX_CHANGESET_BYTES, SOURCE_SHA, DRIFT_DIR, EMULATOR_ADMIN_TOKEN,
)  # fmt: skip


# read but not engage-sync's to set: what CI, GitHub Actions, the scaffolded workflows or the
# terminal say about where a command runs (name(s), what engage-sync does with them)
PLATFORM: tuple[tuple[str, str], ...] = (
    (
        "CI, GITHUB_ACTIONS, GITLAB_CI, BUILDKITE, CIRCLECI, JENKINS_URL, TF_BUILD, ...",
        "A CI service runs the command (any value but empty, false or 0): lead values never go "
        "to its log, and a loopback Engage host must be named in ENGAGE_SYNC_ALLOWED_HOSTS",
    ),
    ("NO_COLOR", "No colour (--color still forces it)"),
    (
        "GITHUB_ACTIONS",
        "true: tokens minted during the run are masked in the log, and ci apply runs only on "
        "its --branch and needs GITHUB_TOKEN",
    ),
    ("GITHUB_REF", "The branch ci apply runs on (it must be --branch)"),
    (
        "GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_SERVER_URL, GITHUB_API_URL",
        "The repository ci plan comments on, and ci apply reads reviews from and pushes to",
    ),
    ("PR_NUMBER", "The pull request ci plan comments on (plan.yml sets it)"),
    ("GITHUB_RUN_ID", "The run whose artifact holds the change set (the comment's trailer)"),
    ("GITHUB_SHA, GITHUB_EVENT_PATH", "The commit a plan comment's file links point at"),
    ("GITHUB_OUTPUT, GITHUB_STEP_SUMMARY", "Where ci commands write step outputs and summaries"),
)
