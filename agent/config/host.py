"""Checks against this machine: files named by the configuration, capture interfaces, and
the spool directory. Read-only: nothing is created or changed."""

from __future__ import annotations

import difflib
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agent.config.problems import Problems
from agent.config.values import Settings
from agent.errors import UsageError
from agent.interfaces import management_interfaces, present_interfaces

# Files that hold secrets: nobody but the owner may read them.
PRIVATE_FILES = (
    ("signing", "key"),
    ("mqtt", "key_file"),
    ("mqtt", "password_file"),
    ("privacy", "hostname_hash_secret_file"),
)
PUBLIC_FILES = (("mqtt", "ca_file"), ("mqtt", "cert_file"))

MIN_SECRET_BYTES = 16


def signing_key_problem(path: Path) -> str | None:
    """Whether the file holds a usable Ed25519 private key (agent.keys decides)."""
    from agent.keys import load_private_key

    try:
        load_private_key(path)
    except UsageError as exc:
        return str(exc)
    return None


def hash_secret_problem(path: Path) -> str | None:
    """Why the hostname hash secret file is too short to use, with the fix; None when fine."""
    size = path.stat().st_size
    if size < MIN_SECRET_BYTES:
        return (
            f"{path} holds {size} bytes; a hash secret needs at least {MIN_SECRET_BYTES} "
            f"(e.g. head -c 32 /dev/urandom > {path})"
        )
    return None


# Content checks, run once a file passed the existence and mode checks.
CONTENT_CHECKS = {
    ("signing", "key"): signing_key_problem,
    ("privacy", "hostname_hash_secret_file"): hash_secret_problem,
}

SERVICE_STATE_DIR = Path("/var/lib/iomt-agent")


def file_problem(path: Path, private: bool) -> str | None:
    """Why the agent could not (or must not) use this file, with the fix; None when fine."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return f"{path} does not exist; check the path or create the file"
    except PermissionError:
        return f"{path} cannot be reached (permission denied on a directory above it)"
    except OSError as exc:
        return f"{path} cannot be examined: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file; name the file itself"
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror}); make it readable by the agent's user"
    mode = stat.S_IMODE(info.st_mode)
    if private and mode & 0o077:
        return f"{path} can be read by group or others (mode {mode:04o}); run chmod 600 {path}"
    if private and info.st_size == 0:
        return f"{path} is empty; it must hold the secret"
    return None


def check_files(settings: Settings, problems: Problems) -> None:
    """Every configured file exists, is readable, and secrets are mode 0600 or stricter."""
    for keys, private in ((PRIVATE_FILES, True), (PUBLIC_FILES, False)):
        for section, name in keys:
            setting = settings.get((section, name))
            if setting is None or setting.value is None:
                continue
            problem = file_problem(setting.value, private)
            if problem is None and (section, name) in CONTENT_CHECKS:
                problem = CONTENT_CHECKS[(section, name)](setting.value)
            if problem:
                problems.error(setting.path, f"{section}.{name}", problem)


SERVICE_USER = "iomt-agent"


def unreadable_by(path: Path, user: str) -> str | None:
    """Why `user` could not read `path` (by owner, group and mode), or None when it can.

    Only the file itself is looked at: the directories above are install.sh's job.
    """
    import grp
    import pwd

    try:
        account = pwd.getpwnam(user)
        info = path.stat()
    except (KeyError, OSError):
        return None
    groups = {account.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid == account.pw_uid and mode & stat.S_IRUSR:
        return None
    if info.st_gid in groups and mode & stat.S_IRGRP:
        return None
    if mode & stat.S_IROTH:
        return None
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = str(info.st_uid)
    return (
        f"{path} is owned by {owner} with mode {mode:04o}, so the service user {user} "
        f"cannot read it; run chown {user}: {path}"
    )


def check_service_user_access(settings: Settings, problems: Problems, user: str) -> None:
    """Secrets the service (running as `user`, not as root) must read are readable by it.

    A key made by root with `iomt-agent keygen` is root's until chowned: check-config run
    as root would pass and the service would still fail at start.
    """
    failed = {problem.key for problem in problems.errors}
    for section, name in PRIVATE_FILES + PUBLIC_FILES:
        setting = settings.get((section, name))
        if setting is None or setting.value is None or f"{section}.{name}" in failed:
            continue
        problem = unreadable_by(setting.value, user)
        if problem:
            problems.error(setting.path, f"{section}.{name}", problem)


def check_bpf_filter(settings: Settings, problems: Problems) -> None:
    """The capture filter compiles (libpcap's own compiler, as the capture will use it)."""
    from agent.config.bpf import filter_problem

    setting = settings.get(("capture", "bpf_filter"))
    snaplen = settings.get(("capture", "snaplen"))
    if setting is None or snaplen is None or not setting.value:
        return
    problem = filter_problem(setting.value, snaplen.value)
    if problem:
        problems.error(
            setting.path,
            "capture.bpf_filter",
            f'"{setting.value}" is not a valid capture filter (libpcap: {problem}); '
            'use tcpdump syntax, e.g. "not host 10.1.2.3"',
        )


def check_interfaces(settings: Settings, problems: Problems) -> None:
    """Every capture interface exists on this host (an optional one may be missing: a
    warning), and none is the management port or lo unless that is explicitly allowed.
    Did-you-mean never suggests the management port or lo."""
    setting = settings.get(("capture", "interfaces"))
    if setting is None:
        return
    optional = settings.get(("capture", "optional_interfaces"))
    allow = settings.get(("capture", "allow_management_interfaces"))
    optional_names = set(optional.value) if optional else set()
    try:
        present = present_interfaces()
        management = management_interfaces()
    except OSError as exc:
        problems.error(
            setting.path, "capture.interfaces", f"cannot list interfaces: {exc.strerror}"
        )
        return
    candidates = [name for name in present if name not in management]
    listing = f"SPAN port candidates here: {', '.join(candidates) or 'none'}"
    if management:
        listing += f" (the management port and lo: {', '.join(sorted(management))})"
    for name in setting.value:
        if name in management and not (allow and allow.value):
            problems.error(
                setting.path,
                "capture.interfaces",
                f"{name} is not a SPAN port: {management[name]}; name the mirror port, or "
                "set capture.allow_management_interfaces = true to capture here anyway",
            )
        if name in present:
            continue
        if name in optional_names:
            problems.warning(
                setting.path,
                "capture.interfaces",
                f"interface {name} does not exist on this host yet; it is optional, so the "
                "agent waits for it (and health says it is missing)",
            )
            continue
        close = difflib.get_close_matches(name, candidates, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        problems.error(
            setting.path,
            "capture.interfaces",
            f"interface {name} does not exist on this host; {hint}{listing}; an interface "
            "that appears later (a USB adapter) belongs in capture.optional_interfaces too",
        )


def nearest_existing(path: Path) -> Path:
    """`path` or its closest ancestor that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def write_failure(directory: Path) -> str | None:
    """Why a file cannot be created in `directory`, or None when it can.

    Tries for real (an unnamed temporary file, gone when closed): permission bits do not
    tell root about read-only mounts, and os.access says yes to root everywhere.
    """
    if not directory.is_dir():
        return "not a directory"
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()
    return None


def check_spool(settings: Settings, problems: Problems, service_config: bool) -> None:
    """The spool directory is writable (or creatable), and its disk can hold max_bytes.

    `service_config` is True for the service's own configuration (/etc/iomt-agent), where
    the systemd sandbox limits which directories the agent may write.
    """
    setting = settings.get(("spool", "dir"))
    size_setting = settings.get(("spool", "max_bytes"))
    if setting is None or size_setting is None:
        return
    origin, spool_dir, max_bytes = setting.path, setting.value, size_setting.value
    existing = nearest_existing(spool_dir)
    if existing == spool_dir and not spool_dir.is_dir():
        problems.error(origin, "spool.dir", f"{spool_dir} exists but is not a directory")
        return
    failure = write_failure(existing)
    if failure:
        verb = "is not writable" if existing == spool_dir else "cannot be created"
        problems.error(
            origin,
            "spool.dir",
            f"{spool_dir} {verb}: {existing}: {failure}; choose a directory the agent may "
            f"write (the service's own is {SERVICE_STATE_DIR}/spool)",
        )
        return
    free = shutil.disk_usage(existing).free
    if free < max_bytes:
        problems.warning(
            size_setting.path,
            "spool.max_bytes",
            f"{max_bytes} bytes allowed but only {free} free under {existing}; "
            "the disk fills before the spool does: lower max_bytes",
        )
    mount = unmounted_mount_point(spool_dir)
    if mount is not None:
        problems.error(
            origin,
            "spool.dir",
            f"{spool_dir} is under {mount}, a mount point in /etc/fstab that is not mounted "
            f"now: the spool would fill the file system below it; mount it (mount {mount}) "
            "or choose another directory",
        )
    if service_config:
        _check_spool_against_unit(spool_dir, origin, problems)


UNIT_NAME = "iomt-agent.service"
# Where systemd looks for units, the first one found winning (systemd.unit(5)).
UNIT_DIRS = (
    Path("/etc/systemd/system"),
    Path("/run/systemd/system"),
    Path("/usr/local/lib/systemd/system"),
    Path("/lib/systemd/system"),
    Path("/usr/lib/systemd/system"),
)


@dataclass(frozen=True)
class UnitWritePaths:
    """What the installed unit lets the service write, and where that was read."""

    unit: Path
    writable: tuple[Path, ...]  # StateDirectory= (under /var/lib) and ReadWritePaths=
    required: tuple[Path, ...]  # ReadWritePaths= without '-': must exist, or no start


def unit_write_paths(unit_dirs: tuple[Path, ...] = UNIT_DIRS) -> UnitWritePaths | None:
    """The installed unit's writable directories (its file, then its drop-ins in name
    order), or None when no unit is installed or it does not make the system read-only
    (ProtectSystem=strict)."""
    unit = next((d / UNIT_NAME for d in unit_dirs if (d / UNIT_NAME).is_file()), None)
    if unit is None:
        return None
    dropins = sorted(
        (path for d in unit_dirs for path in (d / f"{UNIT_NAME}.d").glob("*.conf")),
        key=lambda path: path.name,
    )
    settings: dict[str, list[str]] = {"StateDirectory": [], "ReadWritePaths": []}
    protect = ""
    for path in (unit, *dropins):
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            name, _, value = line.strip().partition("=")
            if name == "ProtectSystem":
                protect = value.strip()
            elif name in settings:
                # An empty assignment resets the list (systemd.exec(5)).
                settings[name] = settings[name] + value.split() if value.strip() else []
    if protect != "strict":
        return None
    writable = [Path("/var/lib") / entry for entry in settings["StateDirectory"]]
    required = []
    for entry in settings["ReadWritePaths"]:
        optional = entry.startswith("-")
        path = Path(entry.lstrip("-+"))
        writable.append(path)
        if not optional:
            required.append(path)
    return UnitWritePaths(unit, tuple(writable), tuple(required))


def _check_spool_against_unit(spool_dir: Path, origin: Path, problems: Problems) -> None:
    unit = unit_write_paths()
    if unit is None:
        if not spool_dir.is_relative_to(SERVICE_STATE_DIR):
            problems.warning(
                origin,
                "spool.dir",
                f"{spool_dir} is outside {SERVICE_STATE_DIR}: the systemd unit (ProtectSystem="
                f"strict) lets the service write only there; add ReadWritePaths={spool_dir} "
                "in a drop-in or move the spool",
            )
        return
    problem = spool_unit_problem(spool_dir, unit)
    if problem:
        problems.error(origin, "spool.dir", problem)


def spool_unit_problem(spool_dir: Path, unit: UnitWritePaths) -> str | None:
    """Why the service, sandboxed by `unit`, could not use `spool_dir`; None when it can."""
    covering = [path for path in unit.writable if spool_dir.is_relative_to(path)]
    if not covering:
        allowed = ", ".join(map(str, unit.writable)) or "nothing"
        return (
            f"{spool_dir} is outside what {unit.unit} lets the service write ({allowed}); "
            f"add ReadWritePaths={spool_dir} with systemctl edit iomt-agent, or move the spool "
            f"under {SERVICE_STATE_DIR}"
        )
    for path in covering:
        if path in unit.required and not path.exists():
            return (
                f"{spool_dir} relies on ReadWritePaths={path} in {unit.unit}, which does not "
                f"exist: systemd will refuse to start the service; create {path} (or mount it)"
            )
    return None


def unmounted_mount_point(
    path: Path, fstab: Path = Path("/etc/fstab"), mounts: Path = Path("/proc/self/mounts")
) -> Path | None:
    """The deepest /etc/fstab mount point above `path` that is not mounted now, or None.

    A spool on a disk that failed to mount would silently go to the file system below.
    """
    try:
        wanted = [
            Path(fields[1])
            for fields in (line.split() for line in fstab.read_text().splitlines())
            if len(fields) >= 3 and not fields[0].startswith("#") and fields[2] != "swap"
        ]
        mounted = {Path(line.split()[1]) for line in mounts.read_text().splitlines() if line}
    except OSError:
        return None
    above = [point for point in wanted if point != Path("/") and path.is_relative_to(point)]
    for point in sorted(above, key=lambda p: len(p.parts), reverse=True):
        if point not in mounted:
            return point
    return None
