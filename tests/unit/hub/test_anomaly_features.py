"""Window features of a unit's readings: what the sawtooth, the door and the probe say about the cabinet."""

from __future__ import annotations

import math

import numpy as np

from hub.alerts.anomaly.features import FEATURES, Series, UnitReadings, WindowSpec, aligned_starts, intervals, windows

HOUR = 3600.0


def sawtooth(rise_per_s: float, fall_per_s: float, seconds: float, sample_s: float = 10.0) -> Series:
    """A cabinet cycling between -81.5 and -78.5 °C, warming and cooling at the given rates."""
    t, temp, cooling, times, values = 0.0, -80.0, False, [], []
    while t < seconds:
        times.append(t)
        values.append(temp)
        temp += (-fall_per_s if cooling else rise_per_s) * sample_s
        if temp >= -78.5:
            cooling = True
        elif temp <= -81.5:
            cooling = False
        t += sample_s
    return Series.of(times, values)


def test_a_door_channel_becomes_open_spans_and_one_still_open_ends_at_its_last_sample() -> None:
    door = Series.of([10, 20, 50, 60, 90], [1, 0, 1, 1, 1])
    assert intervals(door) == [(10.0, 20.0), (50.0, 90.0)]
    assert intervals(None) == []


def test_windows_are_whole_and_aligned_to_their_length() -> None:
    assert aligned_starts(100.0, 4 * HOUR + 5, HOUR) == [HOUR, 2 * HOUR, 3 * HOUR]
    assert aligned_starts(0.0, HOUR - 1, HOUR) == []


def test_the_duty_estimated_from_the_sawtooth_rises_when_the_compressor_cools_more_slowly() -> None:
    healthy = windows(UnitReadings(sawtooth(0.03, 0.06, 2 * HOUR)), 0, 2 * HOUR)
    weak = windows(UnitReadings(sawtooth(0.03, 0.03, 2 * HOUR)), 0, 2 * HOUR)
    duty = FEATURES.index("duty")
    assert healthy[0].values[duty] < 0.4 < weak[0].values[duty]
    assert abs(healthy[0].values[duty] - 1 / 3) < 0.05


def test_a_compressor_channel_gives_the_duty_directly_in_share_or_percent() -> None:
    temp = sawtooth(0.03, 0.06, HOUR)
    share = UnitReadings(temp, compressor=Series.of([0, 60, 120, 180], [1, 0, 0, 1]))
    percent = UnitReadings(temp, compressor=Series.of([0, 60], [40, 60]))
    duty = FEATURES.index("duty")
    assert windows(share, 0, HOUR)[0].values[duty] == 0.5
    assert windows(percent, 0, HOUR)[0].values[duty] == 0.5


def test_recovery_is_the_time_from_the_door_closing_until_the_band_top_before_it_opened() -> None:
    times = np.arange(0, 2 * HOUR, 10.0)
    values = np.full(times.shape, -80.0)
    warm = (times >= 2000) & (times < 2300)
    values[warm] = -70.0 + (times[warm] - 2000) * (-10.0 / 300)  # back to -80 at 2300 s
    readings = UnitReadings(Series(times, values), door=Series.of([1950, 2000], [1, 0]))
    found = windows(readings, 0, 2 * HOUR)
    recovery = FEATURES.index("recovery_s")
    assert found[0].values[recovery] == 300.0
    assert math.isnan(found[1].values[recovery])  # no door closed in the second hour


def test_door_openings_and_the_settling_after_them_are_left_out_of_the_mean() -> None:
    times = np.arange(0, HOUR, 10.0)
    values = np.where((times >= 1000) & (times < 1300), -60.0, -80.0)
    quiet = UnitReadings(Series(times, values), door=Series.of([1000, 1100], [1, 0]))
    unknown = UnitReadings(Series(times, values))
    mean = FEATURES.index("mean_c")
    assert windows(quiet, 0, HOUR, WindowSpec(settle_s=300))[0].values[mean] == -80.0
    assert windows(unknown, 0, HOUR)[0].values[mean] > -80.0


def test_a_window_without_readings_has_no_features() -> None:
    found = windows(UnitReadings(Series.of([], [])), 0, HOUR)
    assert all(math.isnan(v) for v in found[0].values)
    assert found[0].as_dict() == dict.fromkeys(FEATURES)
