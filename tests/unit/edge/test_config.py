"""A bad configuration stops the agent at start-up naming the file, the field and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import load_config
from edge.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "edge" / "freezer-host.example.toml"

GOOD = """
[edge]
id = "host-1"
data_dir = "data"

[[devices]]
id = "freezer-01"
driver = "modbus"
connection = { transport = "tcp", host = "127.0.0.1", port = 5020 }
channels = [{ name = "temp", table = "input", address = 0, data_type = "float32", unit = "Cel" }]
[devices.alarms.temp]
limits = [{ kind = "high", limit = "-70", delay_s = 300, hysteresis = "2", severity = "alarm" }]
"""


def write(tmp_path: Path, text: str, name: str = "edge.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_example_loads() -> None:
    config = load_config(EXAMPLE)
    assert [d.config.id for d in config.devices] == ["freezer-01"]
    assert config.edge.log_origin == "tracseq.local/edge/freezer-host-01"


def test_a_good_file_resolves_the_data_dir_next_to_it(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.edge.data_dir == tmp_path / "data"
    assert config.devices[0].config.alarm_rules().channels["temp"].limits[0].limit == "-70"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("port = 5020", "port = 70000"), "devices[0].connection.tcp.port"),
        (('driver = "modbus"', 'driver = "telepathy"'), "devices[0]: Value error, unknown driver 'telepathy'"),
        (('data_type = "float32"', 'data_type = "float33"'), "devices[0].channels[0].data_type"),
        (('limit = "-70"', "limit = -70.5"), "devices[0].alarms.temp.limits[0].limit"),
        (('id = "host-1"', 'id = "host 1"'), "edge.id"),
        (("[edge]", "[edge]\nsurprise = 1"), "edge.surprise: Extra inputs are not permitted"),
    ],
)
def test_bad_fields_are_named(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_duplicate_device_ids_are_refused(tmp_path: Path) -> None:
    text = GOOD + GOOD[GOOD.index("[[devices]]") :]
    with pytest.raises(ConfigError, match=r"devices\[1\].id: device id 'freezer-01' is used twice"):
        load_config(write(tmp_path, text))


def test_yaml_works_too_and_broken_syntax_is_reported(tmp_path: Path) -> None:
    yaml_text = """
edge: {id: host-1, data_dir: data}
devices:
  - id: freezer-01
    driver: modbus
    connection: {transport: tcp, host: 127.0.0.1, port: 5020}
    channels: [{name: temp, table: input, address: 0, data_type: float32, unit: Cel}]
"""
    assert load_config(write(tmp_path, yaml_text, "edge.yaml")).devices[0].config.id == "freezer-01"
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[edge\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")
