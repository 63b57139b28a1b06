"""Delivery to the broker: transport (paho-mqtt), reconnect backoff, the spool drainer."""

from agent.publish.publisher import DeliveryHealth, Publisher
from agent.publish.settings import MqttSettings
from agent.publish.transport import BrokerAddress, parse_broker_url

__all__ = ["BrokerAddress", "DeliveryHealth", "MqttSettings", "Publisher", "parse_broker_url"]
