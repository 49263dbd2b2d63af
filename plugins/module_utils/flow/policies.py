"""OneFlow auto-scaling: the adjustment arithmetic, policy times, and one role's
evaluation. Pure functions of a role document, its VMs' metric values and the clock, so
the loop, ``oneflow policy-check`` and the unit tests all run the same decision.

Per role and step (the reference's order):

1. **Scheduled policies** (``recurrence`` in cron syntax, or one ``start_time``): each
   keeps its next planned time (``next_eval``), computed at its first evaluation from
   the moment the service started (``since``), so nothing planned before the service
   started fires, and a time between its start and that first evaluation (a slow or
   busy server) is not lost. A policy fires once its time has
   come; times missed while the server was down fire once, on the first evaluation back,
   and when several policies were missed the one planned latest wins (it describes the
   present: the guide's time windows).
2. **Elasticity policies**, in order: a policy is evaluated at most once per ``period``
   seconds; a true evaluation adds one to ``true_evals`` (capped at ``period_number``), a
   false one resets it; reaching ``period_number`` (absent: 1) triggers it and resets it.
   The first trigger that changes the cardinality wins.
3. **min_vms** is a floor: a role below it scales up to it, with no cooldown.

A policy's live state is kept in it: ``next_eval`` (scheduled), ``last_eval`` (elasticity
with a period), ``true_evals``, ``expression_evaluated`` (the expression with the averages
substituted).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput
from ansible_collections.onekit.cloud.plugins.module_utils.flow import (
    expressions as flow_expressions,
)

Body = dict[str, Any]
CHANGE, CARDINALITY, PERCENTAGE_CHANGE = "CHANGE", "CARDINALITY", "PERCENTAGE_CHANGE"
# Hypervisor monitoring, as the guide names it -> where onekit's monitor keeps it
_MONITORING_ALIASES = {"NET_TX": "NETTX", "NET_RX": "NETRX"}
_START_FORMATS = (
    "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%d %H:%M %z",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d %b %Y %H:%M:%S",
    "%d %b %Y %H:%M",
    "%b %d %Y %H:%M:%S",
    "%b %d %Y %H:%M",
)


# ---- the arithmetic -----------------------------------------------------------------------
def adjusted(
    kind: str,
    adjust: int,
    cardinality: int,
    min_vms: int | None = None,
    max_vms: int | None = None,
    min_adjust_step: int | None = None,
) -> int:
    """The new cardinality a policy asks for. PERCENTAGE_CHANGE: a change under one VM
    becomes one, else its integer part, then at least ``min_adjust_step``. The result is
    clamped to [min_vms, max_vms], but a cardinality forced outside that range only ever
    moves back toward it (5 % of 5 VMs, step 2: -0.25 -> -1 -> -2)."""
    c = cardinality
    if kind == CARDINALITY:
        new = adjust
    elif kind == CHANGE:
        new = c + adjust
    else:
        change = c * adjust / 100
        size = 1 if abs(change) < 1 else int(abs(change))
        if min_adjust_step:
            size = max(size, min_adjust_step)
        new = c + int(math.copysign(size, adjust)) if adjust else c
    if new > c and max_vms is not None:
        new = min(new, max(c, max_vms))
    if new < c and min_vms is not None:
        new = max(new, min(c, min_vms))
    return max(new, 0)


def describe_adjust(policy: Mapping[str, Any]) -> str:
    """``+ 2``, ``- 10 % (2)``, ``= 6``: the ADJUST column of ``oneflow show``."""
    kind, adjust = policy.get("type"), int(policy.get("adjust", 0))
    if kind == CARDINALITY:
        return f"= {adjust}"
    sign = "+" if adjust >= 0 else "-"
    if kind == PERCENTAGE_CHANGE:
        step = policy.get("min_adjust_step")
        return f"{sign} {abs(adjust)} %" + (f" ({step})" if step else "")
    return f"{sign} {abs(adjust)}"


# ---- times --------------------------------------------------------------------------------
def zone(name: str | None) -> dt.tzinfo | None:
    """The time zone policies are read in: an IANA name, or None for the server's own."""
    if not name:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {name!r}: give an IANA name such as Europe/Madrid"
        ) from None


def normal_recurrence(text: str) -> str:
    """The cron line with blanks after commas dropped (``mon, tue`` as the guide prints)."""
    return re.sub(r",\s+", ",", text.strip())


def check_recurrence(text: str) -> None:
    from croniter import croniter  # here: modules that never evaluate a policy need not have it

    line = normal_recurrence(text)
    if len(line.split()) != 5:
        raise InvalidInput(
            f"{text!r} is not a cron line: give 5 fields, minute hour day month weekday "
            "(e.g. '0 9 * * mon-fri')"
        )
    if not croniter.is_valid(line):
        raise InvalidInput(f"{text!r} is not a valid cron line (e.g. '0 9 * * mon,tue,wed')")
    if next_time({"recurrence": text}, dt.datetime.now().timestamp(), None) is None:
        raise InvalidInput(
            f"{text!r} never comes (e.g. February 31st): the policy would never fire"
        )


def parse_start_time(text: str, tz: dt.tzinfo | None = None) -> float:
    """An exact time as epoch seconds: ISO-8601 (``2026-12-01T09:00:00+01:00``, a date
    alone), ``YYYY/MM/DD HH:MM``, ``DD/MM/YYYY HH:MM``, RFC 2822, or epoch seconds. A time
    without an offset is in ``tz`` (None: the server's zone)."""
    raw = text.strip()
    when = None
    if re.fullmatch(r"\d{9,11}", raw):
        return float(raw)
    try:
        when = dt.datetime.fromisoformat(raw.replace(" UTC", "+00:00"))
    except ValueError:
        for fmt in _START_FORMATS:
            try:
                when = dt.datetime.strptime(raw, fmt)
                break
            except ValueError:
                continue
    if when is None:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            when = None
    if when is None:
        raise InvalidInput(
            f"{text!r} is not a time: give e.g. '2026-12-01 09:00', '2026-12-01T09:00:00+01:00' "
            "or 'Tue, 01 Dec 2026 09:00:00 +0100'"
        )
    try:  # the first or last hours of the calendar have no local time, or no epoch time
        if when.tzinfo is None:
            when = when.replace(tzinfo=tz) if tz is not None else when.astimezone()
        return when.timestamp()
    except (ValueError, OverflowError):
        raise InvalidInput(f"{text!r} is out of the range of times (years 1 to 9999)") from None


def check_start_time(text: str) -> None:
    parse_start_time(text)


def _cron(policy: Mapping[str, Any], now: float, tz: dt.tzinfo | None):
    from croniter import croniter

    return croniter(normal_recurrence(policy["recurrence"]), dt.datetime.fromtimestamp(now, tz))


def next_time(policy: Mapping[str, Any], now: float, tz: dt.tzinfo | None) -> float | None:
    """A scheduled policy's first planned time after ``now`` (None: no more)."""
    from croniter import CroniterBadDateError

    if policy.get("recurrence"):
        try:
            return _cron(policy, now, tz).get_next(float)
        except CroniterBadDateError:  # a line that never comes (stored before it was refused)
            return None
    planned = parse_start_time(policy["start_time"], tz)
    return planned if planned > now else None


def last_time(policy: Mapping[str, Any], now: float, tz: dt.tzinfo | None) -> float | None:
    """A scheduled policy's latest planned time at or before ``now`` (None: none yet)."""
    from croniter import CroniterBadDateError

    if policy.get("recurrence"):
        try:
            return _cron(policy, now + 0.001, tz).get_prev(float)  # ``now`` itself included
        except CroniterBadDateError:
            return None
    planned = parse_start_time(policy["start_time"], tz)
    return planned if planned <= now else None


# ---- metrics ------------------------------------------------------------------------------
def lookup(vm: Mapping[str, Any], name: str) -> Any:
    """An attribute of a VM as the guide looks it up: USER_TEMPLATE, the VM itself (its
    monitoring: CPU, MEMORY, NET_TX, NET_RX), then TEMPLATE; None when it has none."""
    for scope in (vm.get("USER_TEMPLATE") or {}, vm):
        if name in scope and not isinstance(scope[name], (dict, list)):
            return scope[name]
    monitoring = vm.get("MONITORING") or {}
    key = _MONITORING_ALIASES.get(name, name)
    if key in monitoring:
        return monitoring[key]
    value = (vm.get("TEMPLATE") or {}).get(name)
    return None if isinstance(value, (dict, list)) else value


_PARSED: dict[str, flow_expressions.Expression] = {}


def expression(text: str) -> flow_expressions.Expression:
    """The parsed expression (kept by text: a step evaluates the same few expressions for
    every role, and a dict lookup is all it then costs)."""
    found = _PARSED.get(text)
    if found is None:
        found = flow_expressions.parse(text)
        if len(_PARSED) >= 4096:
            _PARSED.clear()
        _PARSED[text] = found
    return found


def referenced(roles: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every attribute the roles' elasticity expressions use."""
    names: set[str] = set()
    for role in roles:
        for policy in role.get("elasticity_policies", ()):
            try:
                names.update(expression(policy["expression"]).attributes)
            except (InvalidInput, KeyError, TypeError):
                continue  # validated at creation: only a hand-edited store gets here
    return names


_PROGRAMS: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[Any, ...]]] = {}
_EXPRESSION = operator.itemgetter("expression")


def _program(role: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """The elasticity policies' attributes (sorted: what the role's averages are asked
    for) and their parsed expressions, in order; kept by the expressions' texts (roles
    of one template share them): one lookup per role, none per policy. A policy whose
    expression is missing or invalid (a hand-edited store) has None: it fails when its
    turn comes, as it always did."""
    policies = role.get("elasticity_policies", ())
    try:  # one C call per role
        key = tuple(map(_EXPRESSION, policies))
        found = _PROGRAMS.get(key)
    except (KeyError, TypeError):  # a hand-edited store: each policy parsed at its turn
        return tuple(sorted(referenced([role]))), (None,) * len(policies)
    if found is None:
        exprs: list[Any] = []
        for text in key:
            try:
                exprs.append(expression(text))
            except (InvalidInput, TypeError):
                exprs.append(None)
        names = {name for e in exprs if e is not None for name in e.attributes}
        found = (tuple(sorted(names)), tuple(exprs))
        if len(_PROGRAMS) >= 4096:
            _PROGRAMS.clear()
        _PROGRAMS[key] = found
    return found


@dataclass(frozen=True)
class Averages:
    """Each attribute's average over the VMs that have a number for it."""

    values: dict[str, float | None]
    counts: dict[str, int]
    ignored: tuple[str, ...]  # "ATT of VM 5 is 'high'": left out, and said so


def numbers(values: Mapping[str, Any]) -> dict[str, float]:
    """A VM's metric values that are finite numbers, converted (once per VM and step);
    the others are left out of the averages, and said so."""
    found = {}
    for key, raw in values.items():
        try:
            value = float(raw)
        except (TypeError, ValueError, OverflowError):
            continue
        if value - value == 0.0:  # finite: inf - inf and nan - nan are nan
            found[key] = value
    return found


def averages(
    names: Iterable[str],
    vms: Iterable[tuple[int, Mapping[str, Any]]],
    converted: Iterable[Mapping[str, float]] | None = None,
) -> Averages:
    """``vms``: (VM id, {attribute: raw value}) of the role's running VMs; ``converted``,
    when given, their ``numbers`` in the same order."""
    vms = list(vms)
    valid = [numbers(v) for _id, v in vms] if converted is None else list(converted)
    names = tuple(dict.fromkeys(names))
    ignored: list[str] = []
    for (vm_id, raw), good in zip(vms, valid, strict=True):
        if len(good) != len(raw):  # a value that is not a number (or None: no value)
            ignored.extend(
                f"{name} of VM {vm_id} is {str(raw[name])[:40]!r}"
                for name in names
                if name not in good and raw.get(name) is not None
            )
    values: dict[str, float | None] = {}
    counts: dict[str, int] = {}
    if valid and len(names) > 1:  # every VM has a number for every name: column sums
        try:
            columns = list(zip(*map(operator.itemgetter(*names), valid), strict=True))
        except KeyError:
            columns = []
        if columns:
            count = len(valid)
            for name, column in zip(names, columns, strict=True):
                counts[name] = count
                values[name] = sum(column) / count
            return Averages(values, counts, tuple(ignored))
    for name in names:
        found = [n[name] for n in valid if name in n]
        if found:
            counts[name] = len(found)
            values[name] = sum(found) / len(found)
        else:
            values[name] = None
    return Averages(values, counts, tuple(ignored))


# ---- one role's evaluation ----------------------------------------------------------------
@dataclass(frozen=True)
class Scaling:
    """A decision: the role goes from ``old`` to ``new`` VMs. ``cooldown`` None means
    the role's (else the server's default)."""

    old: int
    new: int
    reason: str
    cooldown: int | None = None


@dataclass(frozen=True)
class Evaluation:
    """One step of a role's policies: the decision, what the log should say besides,
    whether a policy's live state changed (the document must be written), and ``due``:
    the next time the clock alone makes a policy evaluate (inf: never; a policy without
    a period is evaluated at every step, but gives the same answer for the same values)."""

    scaling: Scaling | None
    notes: list[str]
    changed: bool
    due: float = math.inf


def _ignored(found: Averages, names: tuple[str, ...]) -> list[str]:
    """The values of ``names`` left out of ``found`` (it may average more attributes)."""
    if not found.ignored:
        return []
    prefixes = tuple(f"{n} of VM " for n in names)
    return [i for i in found.ignored if i.startswith(prefixes)]


def _number(value: float) -> str:
    return format(value, ".6g")


def _explain(expr: flow_expressions.Expression, found: Averages) -> str:
    parts = [
        f"{name} {_number(found.values[name])}"
        for name in expr.attributes
        if found.values.get(name) is not None
    ]
    if len(parts) == 1 and len(expr.attributes) == 1:
        return f"avg {parts[0].split(' ', 1)[1]}"
    return "avg " + ", ".join(parts) if parts else "no VM has its attributes"


def evaluate(
    role: Body,
    metrics: Callable[[tuple[str, ...]], Averages],
    now: float,
    tz: dt.tzinfo | None = None,
    since: float | None = None,
) -> tuple[Scaling | None, list[str]]:
    """One step of the role's policies (their counters change in place); ``metrics``
    averages the named attributes (at least) over the role's running VMs; ``since`` is
    when the service started (default: now). Returns the decision and
    what the log should say besides: metric values left out as not numbers (each once,
    not at every evaluation)."""
    found = step(role, metrics, now, tz, since)
    return found.scaling, found.notes


def _set(policy: Body, key: str, value: Any) -> bool:
    """Set a live field; True when it changed."""
    if key in policy and policy[key] == value:
        return False
    policy[key] = value
    return True


def step(
    role: Body,
    metrics: Callable[[tuple[str, ...]], Averages],
    now: float,
    tz: dt.tzinfo | None = None,
    since: float | None = None,
) -> Evaluation:
    """``evaluate``, telling also whether a policy changed and when one is next due."""
    c = role["cardinality"]
    low, high = role.get("min_vms"), role.get("max_vms")
    notes: list[str] = []
    changed = False
    due_next = math.inf

    fired: tuple[float, int, Body] | None = None
    for index, policy in enumerate(role.get("scheduled_policies", ())):
        if "next_eval" not in policy:  # the first evaluation: nothing before `since` fires
            policy["next_eval"] = next_time(policy, min(now, since or now), tz)
            changed = True
        due = policy["next_eval"]
        if due is None:
            continue
        if due > now:
            due_next = min(due_next, due)
            continue
        planned = last_time(policy, now, tz) or due  # the latest, when several were missed
        policy["next_eval"] = next_time(policy, now, tz)
        changed = True
        if policy["next_eval"] is not None:
            due_next = min(due_next, policy["next_eval"])
        if fired is None or planned > fired[0]:
            fired = (planned, index, policy)
    if fired is not None:
        planned, _index, policy = fired
        new = adjusted(
            policy["type"], policy["adjust"], c, low, high, policy.get("min_adjust_step")
        )
        if new != c:
            when = dt.datetime.fromtimestamp(planned, tz).strftime("%Y-%m-%d %H:%M")
            what = policy.get("recurrence") or policy.get("start_time")
            reason = f"scheduled {what} (planned {when})"
            return Evaluation(Scaling(c, new, reason), notes, True, due_next)

    found: Averages | None = None  # asked for on the first policy due, for them all
    numbers: dict[str, float | None] = {}
    texts: dict[str, str] = {}
    left_out = False  # some VM's value is not a number (found.ignored)
    policies = role.get("elasticity_policies", ())
    names, exprs = _program(role) if policies else ((), ())
    for policy, expr in zip(policies, exprs, strict=True):
        period = policy.get("period")
        if period:  # (kept only when it matters: an unchanged document is not written)
            period = int(period)
            last = policy.get("last_eval")
            if last is not None and now - float(last) < period:
                due_next = min(due_next, float(last) + period)
                continue
            changed |= _set(policy, "last_eval", int(now))
            due_next = min(due_next, int(now) + period)
        if expr is None:  # not valid: the error it always gave, at its turn
            expr = expression(policy["expression"])
        if found is None:  # the role's averages, checked and formatted once
            found = metrics(names)
            numbers, texts = _prepare(found, names)
            left_out = bool(found.ignored)
        if left_out or "ignored" in policy:
            ignored = _ignored(found, expr.attributes)
            notes.extend(
                n for n in ignored if n not in policy.get("ignored", ()) and n not in notes
            )
            if ignored:
                changed |= _set(policy, "ignored", ignored)
            elif "ignored" in policy:
                del policy["ignored"]
                changed = True
        evaluated = expr.text_of(texts)  # (expr.evaluate_numbers, without its tuple)
        true = expr.test_numbers(numbers)
        if policy.get("expression_evaluated") != evaluated:
            policy["expression_evaluated"] = evaluated
            changed = True
        if not true:  # the usual case, kept short: the counter back to 0
            if policy.get("true_evals") != 0:
                policy["true_evals"] = 0
                changed = True
            continue
        needed = policy.get("period_number")
        needed = int(needed) if needed else 1
        if needed < 1:
            needed = 1
        before = policy.get("true_evals")
        count = int(before or 0) + 1
        if count > needed:
            count = needed
        if count >= needed:
            changed |= _set(policy, "true_evals", 0)
            new = adjusted(
                policy["type"], policy["adjust"], c, low, high, policy.get("min_adjust_step")
            )
            if new != c:
                reason = f"{expr.text} true {needed}/{needed} ({_explain(expr, found)})"
                return Evaluation(Scaling(c, new, reason, policy.get("cooldown")), notes, True)
        elif before != count:
            policy["true_evals"] = count
            changed = True

    if low is not None and c < low:
        return Evaluation(Scaling(c, low, f"below min_vms {low}", 0), notes, True)
    return Evaluation(None, notes, changed, due_next)


def _prepare(found: Averages, names: tuple[str, ...]) -> tuple[dict, dict[str, str]]:
    """The averages as the expressions read them, once per role: checked numbers (None:
    no value) and their texts, by name, every name of the role's expressions in both
    (plain dicts: the fastest to read, and a step reads them 100,000s of times)."""
    number, formatted = flow_expressions.number, flow_expressions.formatted
    numbers: dict[str, float | None] = dict.fromkeys(names)
    texts = dict.fromkeys(names, "-")
    for name, value in found.values.items():
        value = number(value)
        numbers[name] = value
        texts[name] = formatted(value)
    return numbers, texts


def reset_counters(roles: Iterable[Body]) -> None:
    """Entering SCALING clears every elasticity policy's true evaluations."""
    for role in roles:
        for policy in role.get("elasticity_policies", ()):
            policy["true_evals"] = 0
