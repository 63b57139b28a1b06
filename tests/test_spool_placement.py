"""check-config places the spool where the installed unit lets the service write, and not
on a mount point that is not mounted (both would pass and then fail under systemd)."""

from __future__ import annotations

import shutil
from pathlib import Path

from agent.config.host import (
    UNIT_NAME,
    spool_unit_problem,
    unit_write_paths,
    unmounted_mount_point,
)

REPO = Path(__file__).resolve().parent.parent


def install_unit(tmp_path: Path, dropin: str | None = None) -> tuple[Path, ...]:
    """The shipped unit in a systemd-like directory of its own, with an optional drop-in."""
    system = tmp_path / "etc-systemd-system"
    system.mkdir()
    shutil.copy(REPO / "systemd" / UNIT_NAME, system / UNIT_NAME)
    if dropin is not None:
        (system / f"{UNIT_NAME}.d").mkdir()
        (system / f"{UNIT_NAME}.d" / "override.conf").write_text(f"[Service]\n{dropin}\n")
    return (system, tmp_path / "lib-systemd-system")


def test_spool_outside_the_units_state_directory_is_refused_with_the_fix(tmp_path):
    unit = unit_write_paths(install_unit(tmp_path))
    assert unit is not None and unit.writable == (Path("/var/lib/iomt-agent"),)
    assert spool_unit_problem(Path("/var/lib/iomt-agent/spool"), unit) is None
    problem = spool_unit_problem(Path("/data/spool"), unit)
    assert problem is not None
    assert "outside what" in problem and "ReadWritePaths=/data/spool" in problem


def test_a_drop_in_read_write_path_allows_the_spool_once_it_exists(tmp_path):
    data = tmp_path / "data"
    unit = unit_write_paths(install_unit(tmp_path, f"ReadWritePaths={data}"))
    assert unit is not None
    problem = spool_unit_problem(data / "spool", unit)
    assert problem is not None and "systemd will refuse to start" in problem
    data.mkdir()
    assert spool_unit_problem(data / "spool", unit) is None


def test_an_empty_assignment_in_a_drop_in_resets_the_list(tmp_path):
    unit = unit_write_paths(install_unit(tmp_path, "StateDirectory=\nStateDirectory=other"))
    assert unit is not None and unit.writable == (Path("/var/lib/other"),)


def test_no_installed_unit_means_no_unit_check(tmp_path):
    assert unit_write_paths((tmp_path,)) is None


def test_a_spool_under_an_fstab_mount_that_is_not_mounted_is_found(tmp_path):
    fstab = tmp_path / "fstab"
    fstab.write_text(
        "# <fs> <dir> <type> <options>\n"
        "UUID=1234 / ext4 defaults 0 1\n"
        f"LABEL=spool {tmp_path}/mnt ext4 defaults,nofail 0 2\n"
        "/swapfile none swap sw 0 0\n"
    )
    mounts = Path("/proc/self/mounts")
    assert unmounted_mount_point(tmp_path / "mnt" / "spool", fstab, mounts) == tmp_path / "mnt"
    assert unmounted_mount_point(Path("/var/lib/iomt-agent/spool"), fstab, mounts) is None
    # Mounted now (as this machine's /proc says): fine.
    fstab.write_text("proc /proc proc defaults 0 0\n")
    assert unmounted_mount_point(Path("/proc/self"), fstab, mounts) is None
