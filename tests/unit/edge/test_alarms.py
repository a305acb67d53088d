"""Offline alarm rules: delays, hysteresis, door inhibition, rate of change, offline, acknowledgement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from edge.alarms import (
    AlarmConfigError,
    AlarmEngine,
    AlarmError,
    AlarmTransition,
    AlreadyAcknowledgedError,
    ChannelAlarms,
    DeviceAlarms,
    DoorRule,
    LimitRule,
    OfflineRule,
    RateOfChangeRule,
    UnknownAlarmError,
    UnknownRuleError,
)

DEVICE = "ult-1"
TEMP = "temperature"
DOOR = "door"
T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)

HIGH = LimitRule(kind="high", limit="-70", delay_s=300, hysteresis="2", severity="alarm")
HIGH_HIGH = LimitRule(kind="high_high", limit="-60", delay_s=0, hysteresis="1", severity="critical")
LOW = LimitRule(kind="low", limit="-90", delay_s=300, hysteresis="2", severity="warning")


def utc(t: float) -> datetime:
    return T0 + timedelta(seconds=t)


def freezer(
    *limits: LimitRule,
    rate: RateOfChangeRule | None = None,
    offline: OfflineRule | None = None,
    door: DoorRule | None = None,
) -> AlarmEngine:
    channel = ChannelAlarms(limits=limits, rate=rate, offline=offline, unit="Cel")
    return AlarmEngine({DEVICE: DeviceAlarms(channels={TEMP: channel}, door=door)})


def feed(
    engine: AlarmEngine, t: float, value: str | None, channel: str = TEMP, quality: str = "good"
) -> list[AlarmTransition]:
    return engine.observe(DEVICE, channel, value, quality, t, utc(t))


def tick(engine: AlarmEngine, t: float) -> list[AlarmTransition]:
    return engine.tick(t, utc(t))


def actions(transitions: list[AlarmTransition]) -> list[tuple[str, str]]:
    return [(transition.action, transition.rule) for transition in transitions]


# limit rules


def test_compressor_failure_raises_high_exactly_after_its_delay_and_not_before() -> None:
    engine = freezer(HIGH)
    seen: list[AlarmTransition] = []
    # warming 0.5 °C per one-minute poll from -80: first strictly above -70 at t=1260 (-69.5)
    for k in range(26):
        seen += feed(engine, 60 * k, str(Decimal(-80) + Decimal("0.5") * k))
    assert seen == []
    assert tick(engine, 1559.999) == []

    (raised,) = tick(engine, 1560)

    assert (raised.action, raised.alarm_id, raised.severity) == ("raised", f"{DEVICE}/{TEMP}/high", "alarm")
    assert (raised.value, raised.limit, raised.duration_ms) == ("-67.5", "-70", 300_000)
    assert raised.message == "temperature -67.5 Cel above high limit -70 for 300 s"
    assert raised.at == utc(1560)
    assert [alarm.alarm_id for alarm in engine.active()] == [f"{DEVICE}/{TEMP}/high"]


def test_a_reading_arriving_after_the_delay_raises_as_a_tick_would_have() -> None:
    engine = freezer(HIGH)
    feed(engine, 0, "-69")
    assert feed(engine, 299.9, "-69") == []
    assert actions(feed(engine, 300, "-69")) == [("raised", "high")]


def test_a_brief_excursion_shorter_than_the_delay_raises_nothing() -> None:
    engine = freezer(HIGH, LOW)
    seen = feed(engine, 0, "-80") + feed(engine, 60, "-68") + feed(engine, 299, "-69.9") + feed(engine, 359, "-80")
    seen += feed(engine, 400, "-69") + feed(engine, 699, "-75")
    for t in range(700, 5000, 100):
        seen += tick(engine, t)
    assert seen == []
    assert engine.active() == []


def test_hysteresis_keeps_one_alarm_while_the_value_wobbles_around_the_limit() -> None:
    engine = freezer(LimitRule(kind="high", limit="-70", delay_s=0, hysteresis="2", severity="alarm"))
    seen: list[AlarmTransition] = []
    for t, value in enumerate(["-69.9", "-70.5", "-69.8", "-71.9", "-70", "-69.1", "-71.5", "-69.99"]):
        seen += feed(engine, t * 30, value)
    assert actions(seen) == [("raised", "high")]

    (cleared,) = feed(engine, 300, "-72")
    assert (cleared.action, cleared.value, cleared.duration_ms) == ("cleared", "-72", 300_000)
    assert cleared.message == "temperature -72 Cel back within high limit -70 (at or below -72)"


def test_a_clear_delay_needs_the_value_back_inside_for_that_long() -> None:
    rule = LimitRule(kind="high", limit="-70", delay_s=0, hysteresis="0", severity="alarm", clear_delay_s=120)
    engine = freezer(rule)
    feed(engine, 0, "-65")
    assert feed(engine, 10, "-75") == []
    assert feed(engine, 100, "-69") == []  # still inside: the clear delay keeps counting
    assert feed(engine, 110, "-68") == []  # back above: the clear delay restarts
    feed(engine, 120, "-75")
    assert tick(engine, 239.9) == []
    assert actions(tick(engine, 240)) == [("cleared", "high")]


def test_high_high_fires_independently_of_high() -> None:
    engine = freezer(HIGH, HIGH_HIGH)
    assert [(t.action, t.rule, t.severity) for t in feed(engine, 0, "-55")] == [("raised", "high_high", "critical")]
    assert actions(tick(engine, 300)) == [("raised", "high")]
    assert actions(feed(engine, 360, "-65")) == [("cleared", "high_high")]
    assert [alarm.rule for alarm in engine.active()] == ["high"]


def test_low_mirrors_high() -> None:
    engine = freezer(LOW)
    feed(engine, 0, "-90.1")
    (raised,) = tick(engine, 300)
    assert raised.message == "temperature -90.1 Cel below low limit -90 for 300 s"
    assert feed(engine, 310, "-89") == []  # inside, but not by the hysteresis
    assert actions(feed(engine, 320, "-88")) == [("cleared", "low")]


def test_bad_quality_and_missing_values_never_trigger_limit_rules() -> None:
    engine = freezer(LimitRule(kind="high", limit="-70", delay_s=0, hysteresis="0", severity="alarm"))
    seen = feed(engine, 0, "-50", quality="bad") + feed(engine, 1, "-50", quality="uncertain")
    seen += feed(engine, 2, None) + feed(engine, 3, "NaN") + feed(engine, 4, "oops") + tick(engine, 1000)
    assert seen == []


# door

DOOR_RULE = DoorRule(door_channel=DOOR, open_longer_than_s=120, inhibit_s=600, severity="warning")


def test_door_opening_holds_the_temperature_alarm_through_the_inhibit_window() -> None:
    engine = freezer(HIGH, door=DOOR_RULE)
    feed(engine, 0, "-68")  # beyond high: 300 s to go
    assert feed(engine, 100, "1", channel=DOOR) == []  # door opens: 100 s counted, 200 s to go, now held
    feed(engine, 150, "-60")
    assert actions(tick(engine, 220)) == [("raised", "door_open")]
    assert actions(feed(engine, 400, "0", channel=DOOR)) == [("cleared", "door_open")]
    assert tick(engine, 999.999) == []  # still inside the 600 s after closing

    assert tick(engine, 1199.999) == []  # counting again from 1000
    (raised,) = tick(engine, 1200)
    assert (raised.rule, raised.duration_ms) == ("high", 300_000)


def test_an_inhibit_window_ends_on_time_even_without_a_call_at_that_moment() -> None:
    engine = freezer(HIGH, door=DOOR_RULE)
    feed(engine, 0, "-68")
    feed(engine, 100, "1", channel=DOOR)
    feed(engine, 110, "0", channel=DOOR)  # inhibited until 710
    assert tick(engine, 900) == []  # 100 + 190 s
    (raised,) = tick(engine, 1100)  # 100 + 390 s
    assert raised.message == "temperature -68 Cel above high limit -70 for 490 s"


def test_door_open_too_long_fires_and_an_active_alarm_stays_active_while_inhibited() -> None:
    engine = freezer(HIGH_HIGH, door=DOOR_RULE)
    assert actions(feed(engine, 0, "-55")) == [("raised", "high_high")]
    feed(engine, 10, "1", channel=DOOR)
    (door_open,) = tick(engine, 130)
    assert (door_open.alarm_id, door_open.value, door_open.duration_ms) == (
        f"{DEVICE}/{DOOR}/door_open",
        "1",
        120_000,
    )
    assert door_open.message == "door open for 120 s, longer than 120 s"
    assert {alarm.rule for alarm in engine.active()} == {"high_high", "door_open"}
    assert actions(feed(engine, 140, "-70")) == [("cleared", "high_high")]  # clearing is never inhibited


def test_going_back_inside_while_inhibited_resets_the_pending_delay() -> None:
    engine = freezer(HIGH, door=DOOR_RULE)
    feed(engine, 0, "-68")
    feed(engine, 100, "1", channel=DOOR)
    feed(engine, 110, "-75")
    feed(engine, 120, "-68")
    feed(engine, 130, "0", channel=DOOR)  # inhibited until 730, then a fresh 300 s
    assert tick(engine, 1029.9) == []
    assert actions(tick(engine, 1030)) == [("raised", "high")]


# rate of change

RATE = RateOfChangeRule(max_per_minute="3", window_s=60, hysteresis_per_minute="1", severity="warning")


def test_rate_of_change_fires_on_a_5_degree_per_minute_rise() -> None:
    engine = freezer(rate=RATE)
    seen: list[AlarmTransition] = []
    for k in range(13):  # two steady minutes, polled every 10 s
        seen += feed(engine, 10 * k, "-80.0")
    for k in range(1, 13):  # then 5 °C per minute
        seen += feed(engine, 120 + 10 * k, f"{Decimal(-80) + Decimal(5) * k / 6:.1f}")
    (raised,) = seen
    assert raised.rule == "rate"
    assert raised.limit == "3"
    assert Decimal(raised.value or "0") > 3
    assert "faster than 3 Cel/min over 60 s" in raised.message

    for k in range(1, 13):  # steady again
        seen += feed(engine, 240 + 10 * k, "-70.0")
    assert actions(seen[1:]) == [("cleared", "rate")]


def test_rate_of_change_ignores_a_slow_drift_with_sensor_jitter() -> None:
    engine = freezer(rate=RATE)
    seen: list[AlarmTransition] = []
    jitter = [Decimal("0"), Decimal("0.1"), Decimal("-0.1")]
    for k in range(360):  # one hour at 0.5 °C per minute, 10 s polls
        value = Decimal(-80) + Decimal("0.5") * k / 6 + jitter[k % 3]
        seen += feed(engine, 10 * k, f"{value:.1f}")
    assert seen == []


def test_rate_of_change_waits_for_readings_spanning_half_the_window() -> None:
    engine = freezer(rate=RATE)
    feed(engine, 0, "-80")
    assert feed(engine, 10, "-75") == []  # 30 °C/min over 10 s, but 10 s is a sliver of a 60 s window
    assert actions(feed(engine, 30, "-70")) == [("raised", "rate")]


# offline


def test_offline_fires_after_after_s_of_no_good_data_with_ticks_alone_and_clears_on_a_good_reading() -> None:
    engine = freezer(offline=OfflineRule(after_s=600, severity="warning"))
    feed(engine, 0, "-80")
    seen = feed(engine, 100, "-80", quality="bad") + feed(engine, 200, None) + feed(engine, 300, "x")
    seen += [transition for t in range(301, 600) for transition in tick(engine, t)]
    assert seen + tick(engine, 599.999) == []

    (raised,) = tick(engine, 600)
    assert (raised.alarm_id, raised.value, raised.duration_ms) == (f"{DEVICE}/{TEMP}/offline", None, 600_000)
    assert tick(engine, 650) == []

    (cleared,) = feed(engine, 700, "-79.5")
    assert (cleared.action, cleared.value, cleared.duration_ms) == ("cleared", "-79.5", 100_000)
    assert cleared.message == "temperature back online: good reading -79.5 Cel"


def test_a_sensor_that_never_reports_goes_offline_from_the_first_tick() -> None:
    engine = freezer(offline=OfflineRule(after_s=60, severity="alarm"))
    assert tick(engine, 1000) == []
    assert tick(engine, 1059) == []
    assert actions(tick(engine, 1060)) == [("raised", "offline")]


# acknowledge


def test_an_active_alarm_can_be_acknowledged_once_and_stays_active() -> None:
    engine = freezer(HIGH_HIGH)
    feed(engine, 0, "-50")
    alarm_id = f"{DEVICE}/{TEMP}/high_high"

    ack = engine.acknowledge(alarm_id, by="alice", comment="moving racks to the backup freezer", now_utc=utc(30))

    assert (ack.action, ack.by, ack.comment, ack.at) == (
        "acknowledged",
        "alice",
        "moving racks to the backup freezer",
        utc(30),
    )
    (active,) = engine.active()
    assert (active.acknowledged_by, active.acknowledged_at, active.value) == ("alice", utc(30), "-50")
    with pytest.raises(AlreadyAcknowledgedError, match="alice"):
        engine.acknowledge(alarm_id, by="bob", comment="", now_utc=utc(40))
    assert actions(feed(engine, 60, "-80")) == [("cleared", "high_high")]
    with pytest.raises(UnknownAlarmError, match="not active"):
        engine.acknowledge(alarm_id, by="bob", comment="", now_utc=utc(70))


def test_acknowledging_an_unknown_alarm_raises() -> None:
    engine = freezer(HIGH)
    with pytest.raises(UnknownAlarmError, match="ult-1/temperature/nope"):
        engine.acknowledge("ult-1/temperature/nope", by="alice", comment="", now_utc=utc(0))


def test_payloads_carry_no_floats() -> None:
    engine = freezer(HIGH_HIGH, offline=OfflineRule(after_s=0.5, severity="warning"))
    transitions = feed(engine, 0, "-50") + tick(engine, 0.75)
    transitions.append(engine.acknowledge(f"{DEVICE}/{TEMP}/high_high", "alice", "on it", utc(1)))
    for transition in transitions:
        payload = transition.payload()
        assert all(value is None or isinstance(value, str | int | bool) for value in payload.values())
        assert not any(isinstance(value, float) for value in payload.values())
    assert transitions[1].payload()["duration_ms"] == 750
    assert transitions[0].payload()["at"] == "2026-03-01T02:00:00.000000Z"


# threshold changes


def test_set_limit_takes_effect_at_the_next_evaluation() -> None:
    engine = freezer(LimitRule(kind="high", limit="-70", delay_s=0, hysteresis="0", severity="alarm"), LOW)
    assert actions(feed(engine, 0, "-65")) == [("raised", "high")]

    engine.set_limit(DEVICE, TEMP, "high", "-60")
    (cleared,) = tick(engine, 10)
    assert (cleared.action, cleared.limit) == ("cleared", "-60")

    engine.set_limit(DEVICE, TEMP, "high", "-66")
    assert actions(tick(engine, 20)) == [("raised", "high")]
    assert engine.rules()[DEVICE].channels[TEMP].limits[0].limit == "-66"


@pytest.mark.parametrize(
    ("device", "channel", "kind"),
    [("nope", TEMP, "high"), (DEVICE, "humidity", "high"), (DEVICE, TEMP, "low_low")],
)
def test_set_limit_names_an_unknown_device_channel_or_rule(device: str, channel: str, kind: Any) -> None:
    engine = freezer(HIGH, LOW)
    with pytest.raises(UnknownRuleError):
        engine.set_limit(device, channel, kind, "-50")


@pytest.mark.parametrize(("new_limit", "reason"), [("abc", "decimal string"), ("-95", "must be below")])
def test_set_limit_refuses_a_bad_limit_and_keeps_the_old_one(new_limit: str, reason: str) -> None:
    engine = freezer(HIGH, LOW)
    with pytest.raises(AlarmConfigError, match=reason):
        engine.set_limit(DEVICE, TEMP, "high", new_limit)
    assert engine.rules()[DEVICE].channels[TEMP].limits[0].limit == "-70"


# configuration and clocks


@pytest.mark.parametrize(
    ("channel", "reason"),
    [
        ({"limits": [{**HIGH.model_dump(), "limit": -70.5}]}, "quoted decimal string"),
        ({"limits": [HIGH.model_dump(), HIGH.model_dump()]}, "two high limits"),
        (
            {"limits": [HIGH.model_dump(), {**LOW.model_dump(), "limit": "-60"}]},
            "low limit -60 must be below",
        ),
        ({"limits": [{**HIGH.model_dump(), "hysteresis": "-1"}]}, "zero or more"),
        ({"rate": {"max_per_minute": "3", "hysteresis_per_minute": "3", "severity": "alarm"}}, "never clear"),
        ({"limits": [{**HIGH.model_dump(), "colour": "red"}]}, "Extra inputs"),
    ],
)
def test_bad_rule_configuration_is_refused(channel: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        ChannelAlarms.model_validate(channel)


def test_an_integer_limit_from_yaml_is_kept_as_decimal_text() -> None:
    assert LimitRule.model_validate({**HIGH.model_dump(), "limit": -70}).limit == "-70"


def test_a_door_must_fit_the_device_channels() -> None:
    with pytest.raises(ValidationError, match="no rules on this device"):
        DeviceAlarms(channels={}, door=DOOR_RULE.model_copy(update={"inhibited_channels": ("co2",)}))
    with pytest.raises(ValidationError, match="only an offline rule"):
        DeviceAlarms(channels={DOOR: ChannelAlarms(limits=(HIGH,))}, door=DOOR_RULE)


def test_clocks_must_be_aware_and_monotonic() -> None:
    engine = freezer(HIGH)
    with pytest.raises(AlarmError, match="timezone-aware"):
        engine.tick(0, datetime(2026, 3, 1))  # noqa: DTZ001 - the naive datetime is the point
    tick(engine, 10)
    with pytest.raises(AlarmError, match="backwards"):
        tick(engine, 9)


def test_readings_of_devices_without_rules_are_ignored() -> None:
    engine = freezer(HIGH_HIGH)
    assert engine.observe("other", TEMP, "100", "good", 0, utc(0)) == []


# properties

inside_value = st.decimals(min_value=Decimal("-89.99"), max_value=Decimal("-70.01"), places=2)
delays = st.sampled_from([0.0, 0.5, 60.0, 300.0])
hysteresis = st.sampled_from(["0", "0.5", "2"])


@settings(max_examples=60, deadline=None)
@given(
    high_delay=delays,
    low_delay=delays,
    hyst=hysteresis,
    steps=st.lists(
        st.tuples(st.integers(0, 900_000), st.one_of(inside_value, st.none(), st.just("tick"))),
        max_size=40,
    ),
)
def test_values_strictly_inside_the_limits_never_raise(
    high_delay: float, low_delay: float, hyst: str, steps: list[tuple[int, Decimal | str | None]]
) -> None:
    engine = freezer(
        LimitRule(kind="high", limit="-70", delay_s=high_delay, hysteresis=hyst, severity="alarm"),
        LimitRule(kind="high_high", limit="-60", delay_s=0, hysteresis=hyst, severity="critical"),
        LimitRule(kind="low", limit="-90", delay_s=low_delay, hysteresis=hyst, severity="alarm"),
        LimitRule(kind="low_low", limit="-100", delay_s=0, hysteresis=hyst, severity="critical"),
    )
    now = 0.0
    for gap_ms, step in steps:
        now += gap_ms / 1000
        transitions = tick(engine, now) if step == "tick" else feed(engine, now, None if step is None else str(step))
        assert transitions == []
    assert engine.active() == []


# a few levels either side of every limit, so that values repeat long enough for delays to elapse
levels = ["-105", "-95", "-91.5", "-89", "-80", "-71", "-69.5", "-65", "-59.5", "-45"]
reading = st.one_of(
    st.sampled_from(levels).map(lambda value: ("temp", value)),
    st.decimals(min_value=Decimal(-110), max_value=Decimal(-40), places=1).map(lambda d: ("temp", str(d))),
    st.sampled_from([("door", "1"), ("door", "0"), ("bad", None), ("tick", None), ("ack", None)]),
    st.decimals(min_value=Decimal(-89), max_value=Decimal(-61), places=0).map(lambda d: ("set_high", str(d))),
)


@settings(max_examples=100, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 200_000), reading), min_size=10, max_size=60))
def test_raised_and_cleared_alternate_per_alarm_id(steps: list[tuple[int, tuple[str, str | None]]]) -> None:
    engine = freezer(
        LimitRule(kind="high", limit="-70", delay_s=120, hysteresis="1", severity="alarm", clear_delay_s=30),
        HIGH_HIGH,
        LOW,
        rate=RATE,
        offline=OfflineRule(after_s=600, severity="warning"),
        door=DoorRule(door_channel=DOOR, open_longer_than_s=60, inhibit_s=120, severity="warning"),
    )
    history: dict[str, list[str]] = {}
    now = 0.0
    for gap_ms, (kind, value) in steps:
        now += gap_ms / 1000
        if kind == "temp":
            transitions = feed(engine, now, value)
        elif kind == "door":
            transitions = feed(engine, now, value, channel=DOOR)
        elif kind == "bad":
            transitions = feed(engine, now, "-20", quality="bad")
        elif kind == "set_high":
            engine.set_limit(DEVICE, TEMP, "high", value or "-70")
            transitions = []
        elif kind == "ack" and (unacknowledged := [a for a in engine.active() if not a.acknowledged]):
            transitions = [engine.acknowledge(unacknowledged[0].alarm_id, "alice", "", utc(now))]
        else:
            transitions = tick(engine, now)
        for transition in transitions:
            assert not any(isinstance(item, float) for item in transition.payload().values())
            history.setdefault(transition.alarm_id, []).append(transition.action)

    for alarm_id, sequence in history.items():
        state = "cleared"
        for action in sequence:
            allowed = {
                "cleared": {"raised"},
                "raised": {"cleared", "acknowledged"},
                "acknowledged": {"cleared"},
            }
            assert action in allowed[state], f"{alarm_id}: {action} after {state} in {sequence}"
            state = action
    still_active = {alarm_id for alarm_id, sequence in history.items() if sequence[-1] != "cleared"}
    assert {alarm.alarm_id for alarm in engine.active()} == still_active
