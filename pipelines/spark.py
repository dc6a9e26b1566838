"""The one place Spark sessions are built: local mode by default, UI off, quiet unless asked.

In local mode nothing outlives a killed driver, with nothing added here (tests/test_orphans.py checks
it): pyspark starts the JVM with a pipe on its stdin and the JVM exits when that pipe closes, which
the kernel does when the driver dies; pyspark's daemon, which forks the Python workers in its own
process group, exits when the JVM goes and takes the group with it (SIGHUP). That rests on pyspark's
defaults (the stdin pipe, `spark.python.use.daemon`): a change to how the JVM or its workers start
must keep that test passing.
"""

from __future__ import annotations

import os
import sys

from pipelines.stderr import native_stderr_muted


def spark_session(master: str | None = None, app_name: str = "lth-harness", quiet: bool = True):
    """A SparkSession on `master` (default `local[*]`) whose Python workers run this interpreter.

    When quiet, the JVM is started with stderr pointed at /dev/null, so its start-up banners, log4j
    warnings and progress bars never reach the terminal; failures still surface as Python exceptions.
    """
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master or "local[*]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.python.worker.reuse", "true")
    )
    if master is None:  # local mode: every service binds and advertises loopback, never the host's address
        os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
        builder = builder.config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
    with native_stderr_muted(active=quiet):
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR" if quiet else "WARN")
    return session
