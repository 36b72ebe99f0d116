"""The apply operation, beside `workspace.build_plan`: what octoDNS's `Manager.sync` is to its CLI.

It plans under the state lock, looks at Engage when asked (`refresh`), decides what may be
carried out (the reviewed checksum, the reviewed change sets, the safety rails; tombstones are
never held back), asks before posting, walks the plan through the client with every answer in
the journal, seals the campaigns it carried out whole, and folds the journal into the state. It
returns an `ApplyOutcome`; the command renders it and turns it into an exit code. Everything the
user sees on the way (the plan, a question, progress) goes through `ApplyHooks`, so the policy is
tested without a terminal and `ci apply` shares it instead of copying it.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .. import workspace
from ..changeset import ChangeSet, Coverage, cover, is_blocked, is_tombstone, only
from ..config import Config
from ..donotcall.keys import resolve as resolve_key
from ..engage import EngageApi
from ..engage.hosts import engage_target
from ..errors import ConfigError
from ..model import Plan, Problem
from ..optouts import DateSource
from ..progress import Meter
from ..state import Journal, StateLock, read_pacing, save_state, write_pacing
from ..store import Item, Store, as_store
from .applier import LOOKUP_PHONES, Applier
from .donotcall import Stop, Sweeper, engage_opt_outs
from .lookahead import look_ahead
from .refresh import refresh as look
from .report import Report


@dataclass(frozen=True)
class ApplyRequest:
    """What one apply is asked to do (the `apply` flags; `ci apply` adds `reviewed`)."""

    paths: tuple[str, ...] = ()
    default_account: str | None = None
    batch_size: int = 500
    fail_fast: bool = False
    lock_timeout: float = 0.0
    checksum: str | None = None  # carry out only this plan (tombstones always)
    force: bool = False  # past the safety rails
    refresh: bool = False  # look at Engage first and correct drift towards less calling
    # the change sets reviewed on pull requests: main's plan is carried out as far as they
    # show it (tombstones always); None: no such gate
    reviewed: list[ChangeSet] | None = None
    # look creates up before posting them: "probe" (a campaign's first batch; all of them once
    # one is found), "all", "off", or "auto" (probe where a second load would keep two records,
    # RETAIN_ALL, or the state file is tracked by git, so another clone may have applied)
    look_first: str = "off"
    lookup_delay: float = 2.0
    # loader calls in flight at once; None: as many as the shortest window admits (30)
    max_in_flight: int | None = None


class ApplyHooks(Protocol):
    """How the operation shows what it does; the command implements it (a terminal, CI)."""

    def planned(self, plan: Plan, rails: list[str], warnings: list[Problem]) -> None:
        """The plan as it will be carried out, before anything is sent."""

    def decided(self, outcome: ApplyOutcome) -> None:
        """What will and will not be carried out (gates, rails), before anything is sent."""

    def confirm(self, to_post: int, to_remove: int) -> bool:
        """Whether to go on; False cancels with nothing sent."""

    def reading(self) -> Meter | None:
        """What counts the leads as the lead sets are read (None: nothing does)."""

    def progress(self, total: int) -> Callable[[int], None]:
        """A callback for leads answered of `total`; `done()` ends it."""

    def done(self) -> None:
        """The posting is over (close any progress display)."""


@dataclass
class ApplyOutcome:
    plan: Plan
    report: Report = field(default_factory=Report)
    refused: bool = False  # a safety rail held everything but the tombstones back
    mismatch: bool = False  # the plan is not the one with the reviewed checksum
    coverage: Coverage | None = None
    held_back: list[str] = field(default_factory=list)  # items no review showed, not applied
    cancelled: bool = False  # the user said no
    nothing_to_do: bool = False
    # items no review showed that were carried out all the same: tombstones
    unreviewed_tombstones: list[str] = field(default_factory=list)

    @property
    def carried_out_all(self) -> bool:
        """Nothing was held back: the plan was applied as a whole (it may still have failed)."""
        return not (self.refused or self.mismatch or self.held_back or self.cancelled)


def apply(
    request: ApplyRequest,
    config: Config,
    where: Store | Path,
    client: EngageApi,
    hooks: ApplyHooks,
) -> ApplyOutcome:
    """Plan, gate, ask, post, record. Raises for what stops it before anything is sent
    (invalid lead sets, a held lock, a campaign with no account). `where`: the state's store
    (a path: the state file's)."""
    store = as_store(where)
    lock = StateLock(store, "apply", request.lock_timeout)
    with client, lock, _paced(store, client), contextlib.ExitStack() as ended:
        planned = workspace.build_plan(
            request.paths,
            config,
            store,
            incremental=not request.refresh,
            sealing=True,
            meter=hooks.reading(),
        )
        _check_accounts(planned.plan, request.default_account)
        offline = plan = planned.plan
        stops = _stops(planned, config)
        if stops and not request.default_account and not any(ls.account for ls in plan.leadsets):
            raise ConfigError(
                "no account to stop the do-not-call phones in: pass --account, set "
                "ENGAGE_ACCOUNT_ID or `account:` in engage-sync.yaml; nothing posted"
            )
        working = [ls for ls in plan.leadsets if ls.has_work or request.refresh]
        # the first leads' do-not-call look-up, made while the campaigns are read
        ahead = None
        if not request.refresh:
            default, batch = request.default_account, request.batch_size
            ahead = look_ahead(
                plan, planned.sources, config.opt_outs, client, default, batch, LOOKUP_PHONES
            )
        if ahead is not None:
            ended.callback(ahead.close)  # before the client closes
        if working or stops:  # wrong credentials or account: the first and only thing said
            accounts = {ls.account or request.default_account for ls in working}
            if stops and request.default_account:
                accounts.add(request.default_account)
            # each account's campaigns in the same call: the campaign check needs them
            client.authenticate((a for a in accounts if a), campaigns=bool(working))
        if request.refresh:
            plan = look(
                plan,
                planned.state,
                planned.sources,
                client,
                request.default_account,
                planned.registry,
                config.opt_outs,
            )
            stops += _engage_stops(plan, planned, config, client, request.default_account)
        hooks.planned(plan, planned.rails, planned.sink.warnings)
        outcome = ApplyOutcome(plan)
        # a plan reviewed offline still matches: drift corrections only ever reduce calling
        outcome.mismatch = request.checksum is not None and request.checksum not in (
            plan.checksum,
            offline.checksum,
        )
        if request.reviewed is not None:
            outcome.coverage = cover(offline, request.reviewed)
            unreviewed = outcome.coverage.unreviewed
            # a blocked lead is never posted: nothing to hold back (issue #30)
            outcome.held_back = [i for i in unreviewed if not is_tombstone(i) and not is_blocked(i)]
            outcome.unreviewed_tombstones = [i for i in unreviewed if is_tombstone(i)]
            if unreviewed:
                plan = only(plan, outcome.coverage.reviewed)
        outcome.refused = bool(planned.rails) and not request.force
        if outcome.refused or outcome.mismatch:
            plan = plan.tombstones_only()
        outcome.plan = plan
        to_post = sum(ls.to_load for ls in plan.leadsets)
        # an owned blocked lead's records are cancelled, once its phone's stop is done too
        # (convergence campaign, docs/chaos.md: seed 3003)
        to_remove = sum(ls.to_stop + len(ls.owned_blocked) for ls in plan.leadsets) + len(stops)
        outcome.nothing_to_do = to_post == 0 and to_remove == 0
        # engage-sync.yaml as carried out: recorded once the plan that shows it is applied
        settings = config.settings if plan.settings is not None else None
        hooks.decided(outcome)
        if outcome.nothing_to_do:
            if settings is not None:
                planned.state.base_url = engage_target(client.base_url)
                _record_settings(planned, settings)
            if outcome.carried_out_all:
                _seal_unchanged(planned)
            return outcome
        if not hooks.confirm(to_post, to_remove):
            outcome.cancelled = True
            return outcome
        with Journal(planned.state) as journal:
            for ls in plan.leadsets:  # where the leads go, before the first is posted
                if ls.target is not None and ls.has_work:
                    journal.retarget(ls.campaign.id, ls.target)
            applier = Applier(
                client,
                journal,
                request.default_account,
                request.batch_size,
                request.fail_fast,
                hooks.progress(to_post),
                lookup_delay=request.lookup_delay,
                look_first=request.look_first,
                shared_state=request.look_first == "auto" and _shared(store),
                max_in_flight=request.max_in_flight,
                sweeper=Sweeper(
                    client,
                    journal,
                    config.opt_outs,
                    planned.registry.key,
                    campaigns=_campaigns(plan, request.default_account),
                    states=config.opt_outs.engage_states,
                    ahead=ahead,
                ),
                stops=stops,
            )
            sealed = 0
            try:
                outcome.report = applier.run(plan, planned.inputs)
                if outcome.carried_out_all:
                    sealed = workspace.record_seals(planned, _carried_out(outcome.report))
            except KeyboardInterrupt:
                # Ctrl-C: the calls in flight were let finish (applier.close); what was
                # recorded is folded below, what was in flight stays in doubt and is looked up
                # by the next apply
                outcome.report = applier.report
                outcome.report.interrupted = True
                outcome.report.server_gone = client.gone
            finally:
                hooks.done()
                if settings is not None:
                    planned.state.settings = dict(settings)
                target = engage_target(client.base_url)
                moved = planned.state.base_url != target
                planned.state.base_url = target
                journal.fold(seals=sealed > 0 or settings is not None or moved)
    return outcome


def _shared(store: Store) -> bool:
    """Whether other copies of the state may exist: a state file git tracks. A state in an
    object store is one copy that every apply reads and swaps under its lock: not shared."""
    path = store.local_file()
    return path is not None and tracked(path)


def tracked(path: Path) -> bool:
    """Whether git tracks the state file: then other clones hold copies of it, and an apply
    from one of them may have loaded leads this copy does not know (no git: False)."""
    try:
        done = subprocess.run(
            ["git", "ls-files", "--error-unmatch", "--", path.name],
            cwd=path.parent if str(path.parent) else ".",
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _stops(planned: workspace.Planned, config: Config) -> list[Stop]:
    """The phones the repository names that no apply has stopped yet (issue #30), and a clear
    error when the key of the state's phone hashes cannot be had (nothing is sent then: a
    phone hashed with another key would never block anything)."""
    registry = planned.registry
    if planned.state.do_not_call.key is not None and registry.key is None:
        _, why = resolve_key(planned.state.do_not_call.key)
        raise ConfigError(f"{why}: nothing posted (set it as the CI environment's secret too)")
    today = config.opt_outs.today()
    stops = []
    for p in registry.pending():
        day, source = p.origin.requested, DateSource.LEAD_SET
        if day is None:
            day, source = today, DateSource.FIRST_SEEN
        stops.append(Stop(p.phone, day, source, p.origin.source))
    return stops


def _engage_stops(
    plan: Plan,
    planned: workspace.Planned,
    config: Config,
    client: EngageApi,
    default: str | None,
) -> list[Stop]:
    """`apply --refresh`: the phones Engage holds as do-not-call that no list names are stopped
    too, everywhere the scope says (found today; `optouts pull` brings them into git)."""
    if not plan.engage_opt_outs:
        return []
    rules = config.opt_outs
    found: set[str] = set()
    for account, campaigns in sorted(_campaigns(plan, default).items()):
        scope = sorted(campaigns) if rules.scope == "campaign" else None
        found |= engage_opt_outs(client, account, planned.registry, rules.engage_states, scope)
    today = rules.today()
    return [
        Stop(p, today, DateSource.FIRST_SEEN, "engage")
        for p in sorted(found)
        if not planned.registry.done(p)
    ]


def _campaigns(plan: Plan, default: str | None) -> dict[str, set[int]]:
    """The campaigns each account's lead sets declare (`optOuts.scope: campaign`)."""
    found: dict[str, set[int]] = {}
    for ls in plan.leadsets:
        account = ls.account or default
        if account:
            found.setdefault(account, set()).add(ls.campaign.id)
    return found


@contextlib.contextmanager
def _paced(memory: Store, client: EngageApi) -> Iterator[None]:
    """The windows start with the calls the last runs on this machine made to this service,
    and this run's calls are kept for the next (state/pacing.py); under the state's lock."""
    target = engage_target(client.base_url)
    client.remember(
        {
            (kind, account): times
            for (t, account, kind), times in read_pacing(memory).items()
            if t == target
        }
    )
    try:
        yield
    finally:
        made = client.recent_calls()
        if made:
            write_pacing(
                memory, {(target, account, kind): t for (kind, account), t in made.items()}
            )


def _check_accounts(plan: Plan, default: str | None) -> None:
    """Every campaign with something to do needs an account, before anything is shown or sent."""
    missing = [
        ls.campaign.id for ls in plan.leadsets if ls.has_work and not (ls.account or default)
    ]
    if missing:
        raise ConfigError(
            f"no account for campaign(s) {', '.join(map(str, missing))}: pass --account, set "
            "ENGAGE_ACCOUNT_ID, `account:` in engage-sync.yaml or in the lead set; nothing posted"
        )


def _carried_out(report: Report) -> Callable[[int], bool]:
    """Whether apply did all a campaign's plan asked (a campaign with no work had nothing to do)."""
    reps = {rep.campaign_id: rep for rep in report.leadsets}

    def done(cid: int) -> bool:
        rep = reps.get(cid)
        if rep is None:
            return True
        return (
            rep.ok
            and rep.recorded >= rep.to_post
            and rep.removed >= rep.to_remove
            and rep.corrections >= rep.to_correct
            and not (rep.not_inserted or rep.action_failures or rep.in_doubt)
        )

    return done


def _record_settings(planned: workspace.Planned, settings: Mapping[str, Any]) -> None:
    """A plan whose only change is engage-sync.yaml: record it (folding any journal an earlier
    run left, which loading the state replayed)."""
    planned.state.settings = dict(settings)
    save_state(planned.state)
    planned.state.store.delete(Item.JOURNAL)


def _seal_unchanged(planned: workspace.Planned) -> None:
    """Nothing to post, yet campaigns read in full whose state agrees: record that, so later
    plans skip their files (once, after an upgrade or an apply that was cut short)."""
    if planned.state.store.exists(Item.JOURNAL):
        return  # the next apply folds that journal first; it seals then
    if workspace.record_seals(planned, lambda cid: True):
        save_state(planned.state)
