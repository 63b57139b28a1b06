"""One module per `iomt-central` command: register(parser) and run(args) -> int."""
