"""MQTT sensors (aiomqtt over paho-mqtt 2): topic subscriptions whose JSON or plain payloads become observations.

Configure a device with its broker and subscriptions, then drive it through the ``drivers.Driver`` shape::

    settings = MqttDeviceSettings(
        driver="mqtt",
        broker=MqttBrokerSettings(host="127.0.0.1", client_id="edge-7-ln2-room-1"),
        subscriptions=[
            MqttSubscription(
                topic="lab/site-a/ln2-room-1/+",
                channel_segment=-1,
                timestamp="$.ts",
                mappings=[FieldMapping(path="$.value", unit_path="$.unit", unit="%", range=("0", "25"))],
            )
        ],
    )
    driver = create_driver("ln2-room-1", settings)
    await driver.open()
    readings = await driver.poll()   # observations, and events for bad payloads
    mark = driver.poll_mark()
    ...                              # write them durably, then:
    await driver.acknowledge(through=mark)   # the broker may now forget them

QoS 1 on a persistent session (stable client id, clean start off) means messages published while the agent is down
are delivered when it is back, and a message is only acknowledged once the edge has written it.
"""

from drivers.mqtt.config import (
    FieldMapping,
    MqttBrokerSettings,
    MqttDeviceSettings,
    MqttSubscription,
    MqttTls,
)
from drivers.mqtt.driver import MqttCounters, MqttDriver, create_driver
from drivers.mqtt.mapping import JsonNumber, PayloadMapper, decode_json, map_payload
from drivers.mqtt.session import InboundMessage, MessageSink, MqttSession, SessionFactory, aiomqtt_session
from drivers.mqtt.topics import check_filter, topic_matches

__all__ = [
    "FieldMapping",
    "InboundMessage",
    "JsonNumber",
    "MessageSink",
    "MqttBrokerSettings",
    "MqttCounters",
    "MqttDeviceSettings",
    "MqttDriver",
    "MqttSession",
    "MqttSubscription",
    "MqttTls",
    "PayloadMapper",
    "SessionFactory",
    "aiomqtt_session",
    "check_filter",
    "create_driver",
    "decode_json",
    "map_payload",
    "topic_matches",
]
