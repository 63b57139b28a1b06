"""System figures for the health message, read from this real machine."""

from __future__ import annotations

import shutil
import time

from agent.health import SystemSampler


def test_sample_reports_this_process_and_the_spool_disk(tmp_path):
    sampler = SystemSampler(spool_dir=str(tmp_path))
    sum(i * i for i in range(200_000))  # some CPU between the samples
    figures = sampler.sample()
    assert 10 * 2**20 < figures.agent_rss_bytes < 2**31
    assert 0.0 <= figures.box_cpu_percent <= 100.0
    assert 0.0 < figures.box_memory_percent < 100.0
    free = shutil.disk_usage(tmp_path).free
    assert abs(figures.spool_disk_free_bytes - free) < 512 * 2**20
    # The agent's uptime is this process's (pytest started moments ago), not the box's.
    import psutil

    assert 0 <= figures.agent_uptime_s < figures.box_uptime_s
    assert abs(figures.agent_uptime_s - (time.time() - psutil.Process().create_time())) < 5
    assert abs(figures.box_uptime_s - (time.time() - psutil.boot_time())) < 5
    # The kernel always answers adjtimex here; synchronized or not depends on the host.
    assert figures.clock_synchronized in (True, False)


def test_missing_spool_dir_gives_no_disk_figure(tmp_path):
    figures = SystemSampler(spool_dir=str(tmp_path / "absent")).sample()
    assert figures.spool_disk_free_bytes is None
