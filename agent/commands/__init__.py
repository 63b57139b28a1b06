"""One module per `iomt-agent` subcommand; each has `register(parser)` and `run(args)`."""
