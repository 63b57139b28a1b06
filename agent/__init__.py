"""iomt-agent: an edge sensor that summarizes hospital network traffic into signed flows."""

__version__ = "0.1.0"
