"""iomt-central."""
