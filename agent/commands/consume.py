"""`iomt-agent consume --url URL --trust DIR ...`: subscribe, verify, dedupe, decode.

Prints one JSON line per record as messages arrive; a one-line summary goes to stderr
when it stops (after --exit-after-idle seconds without a message, Ctrl-C or SIGTERM;
SIGTERM exits 0). Credentials come as the agent's [mqtt] options do: --username and
--password-file (a file whose first line is the password), never on the command line
where `ps` and logs would show them. A central
consumer runs with --session (the broker queues messages while it is away) and --state
(duplicates and gaps are judged across its restarts).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from agent.commands.options import (
    add_max_message_bytes_argument,
    add_trust_argument,
    bounded_number,
    max_message_bytes,
    trust_store,
)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", required=True, help="broker, mqtt://host[:port] or mqtts://host[:port]"
    )
    add_trust_argument(parser)
    parser.add_argument(
        "--topic-filter", default="iomt/#", metavar="F", help="MQTT topic filter (default iomt/#)"
    )
    parser.add_argument(
        "--share",
        metavar="GROUP",
        help="join shared subscription $share/GROUP/F (gap reports are off: "
        "each member sees part of the stream)",
    )
    parser.add_argument(
        "--exit-after-idle",
        type=bounded_number(0.001, 86_400, "seconds"),
        metavar="S",
        help="exit after S seconds without a message",
    )
    parser.add_argument("--username", metavar="NAME", help="MQTT user name (as [mqtt] username)")
    parser.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help="file whose first line is the MQTT password (as [mqtt] password_file)",
    )
    parser.add_argument("--ca", metavar="FILE", help="CA certificate for mqtts://")
    parser.add_argument("--cert", metavar="FILE", help="client certificate for mqtts://")
    parser.add_argument("--key", metavar="FILE", help="client certificate's key for mqtts://")
    parser.add_argument(
        "--session",
        metavar="NAME",
        help="keep an MQTT session named NAME at the broker: what arrives while this "
        "consumer is away is queued for it (QoS 1)",
    )
    parser.add_argument(
        "--session-expiry",
        type=bounded_number(1, 30 * 86_400, "seconds"),
        default=86_400.0,
        metavar="S",
        help="how long the broker keeps the session after a disconnect (default: %(default)g)",
    )
    parser.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="keep the sequence state (per sensor boot: highest seq, missing ranges) in "
        "FILE, so duplicates and gaps are judged across restarts",
    )
    add_max_message_bytes_argument(parser)


STATE_SAVE_INTERVAL_S = 5.0


class _Terminated(Exception):
    """SIGTERM arrived: unwind like Ctrl-C does, through the summary."""


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise _Terminated


def run(args: argparse.Namespace) -> int:
    from agent.consumer import Consumer
    from agent.consumer.mqtt import (
        Inbox,
        parse_url,
        run_subscription,
        subscription_filter,
        with_credentials,
    )
    from agent.consumer.state import load_tracker, save_tracker
    from agent.errors import UsageError

    address = with_credentials(parse_url(args.url), args.username, args.password_file)
    max_bytes = max_message_bytes(args)
    for option, value in (("--ca", args.ca), ("--cert", args.cert), ("--key", args.key)):
        if value is not None and not Path(value).is_file():
            raise UsageError(f"{option} file {value} does not exist")
    report_gaps = args.share is None
    consumer = Consumer(
        trust_store(args),
        max_message_bytes=max_bytes,
        report_gaps=report_gaps,
        tracker=load_tracker(args.state, report_gaps) if args.state else None,
    )
    saved_at = [time.monotonic()]

    def save_state() -> None:
        if args.state:
            try:
                save_tracker(args.state, consumer.tracker)
            except OSError as exc:
                raise UsageError(f"cannot write the state file {args.state}: {exc}") from None
            saved_at[0] = time.monotonic()

    save_state()  # a state file that cannot be written is refused now, not after an hour

    def print_records(payload: bytes, topic: str) -> None:
        for record in consumer.handle(payload, topic):
            sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()
        if time.monotonic() - saved_at[0] >= STATE_SAVE_INTERVAL_S:
            save_state()

    subscribed_to = subscription_filter(args.topic_filter, args.share)

    subscribed = []

    def announce() -> None:
        subscribed.append(True)
        # Tells a technician (and tests) that messages from now on will be seen.
        print(
            f"iomt-agent consume: subscribed to {subscribed_to} at {address.display()}",
            file=sys.stderr,
            flush=True,
        )

    inbox = Inbox()
    previous_handler = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        run_subscription(
            address,
            subscribed_to,
            print_records,
            args.exit_after_idle,
            on_ready=announce,
            ca_file=args.ca,
            cert_file=args.cert,
            key_file=args.key,
            session=args.session,
            session_expiry_s=int(args.session_expiry),
            max_message_bytes=max_bytes,
            inbox=inbox,
        )
    except _Terminated:
        pass  # a service manager's stop: the same summary as Ctrl-C, exit 0
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        stats = consumer.stats
        if subscribed:  # after a failure to connect, the error line says it all
            save_state()
            print(
                f"iomt-agent consume: {stats.messages} messages, {stats.records} records, "
                f"{stats.rejected} rejected, {stats.duplicates} duplicates dropped, "
                f"{stats.gaps} gaps ({stats.missing_messages} messages missing), "
                f"{stats.late} late, {consumer.tracker.pending_messages()} held while a "
                "backlog drains, "
                f"{inbox.dropped} QoS 0 messages dropped (inbox full)",
                file=sys.stderr,
            )
    return 0
