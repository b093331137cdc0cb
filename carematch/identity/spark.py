"""A Spark session for the linkage engine (``carematch link --engine spark``).

:func:`local_session` starts Spark in local mode, sized for a two-core machine, with what
Splink's Spark backend needs: its similarity jar (``jaro_winkler``, ``damerau_levenshtein``
and the other Scala UDFs that :class:`splink.SparkAPI` registers) and a checkpoint directory
(Splink breaks the lineage of its intermediate tables by writing them there as Parquet).
A session that is already active (``pyspark`` shell, ``spark-submit`` on a cluster, a notebook)
is reused instead, and given only what Splink needs. :func:`stop_session` stops the session
this module started and removes its scratch directory.

pyspark is an optional dependency (the ``[spark]`` extra) and needs Java 17 or newer; nothing
here imports it until a session is asked for. See docs/linkage-spark.md.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Mapping
from copy import deepcopy
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

MASTER = "local[2]"
"""Two worker threads: one per core of the machines CareMatch is sized for (CI included)."""

LOCAL_CONF: dict[str, str] = {
    # 2 cores → a few partitions. Spark's default of 200 shuffle partitions turns every join
    # and aggregation of a small linkage job into 200 near-empty tasks; SparkAPI also derives
    # its repartitioning (half of this) from it.
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    # Driver and executor share one JVM in local mode; 2 GiB holds a city of tens of thousands
    # of records with room to spare and leaves the machine's memory to DuckDB and the database.
    "spark.driver.memory": "2g",
    # No web UI (a port and a thread nobody looks at) and no console progress bars.
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # No network: bind and advertise loopback only, so Spark never resolves the host name or
    # listens on a public interface. Jars come from local files only (no spark.jars.packages,
    # which would resolve through Ivy from a remote repository).
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    # In-memory catalog: no Hive metastore (Derby would create metastore_db/ in the cwd).
    "spark.sql.catalogImplementation": "in-memory",
    # Arrow for pandas ↔ Spark (Splink registers the input as pandas and we read the scored
    # pairs back as pandas); falls back to the row-by-row path for types Arrow lacks.
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "true",
    # Results must not depend on the machine's time zone.
    "spark.sql.session.timeZone": "UTC",
}

_lock = threading.Lock()
_owned: SparkSession | None = None
_scratch: Path | None = None

_LOG4J2 = """\
# Written by carematch.identity.spark: Spark's INFO narration off, errors kept.
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
"""


def similarity_jar() -> str:
    """Path of the Splink similarity-UDF jar that matches the installed Spark major version."""
    from splink.backends.spark import similarity_jar_location

    return str(similarity_jar_location())


def _has_jar(spark: SparkSession, jar: str) -> bool:
    jars = spark.sparkContext.getConf().get("spark.jars", "") or ""
    return Path(jar).name in jars


def _ensure_splink_ready(spark: SparkSession) -> None:
    """Give a session Splink's jar and a checkpoint directory if it lacks them."""
    global _scratch
    jar = similarity_jar()
    if not _has_jar(spark, jar):
        # A session started without spark.jars: ADD JAR puts the jar on the session's class
        # loader, where SparkAPI's registerJavaFunction finds the UDF classes.
        spark.sql(f"ADD JAR '{jar}'")
    if spark.sparkContext.getCheckpointDir() is None:
        if _scratch is None:
            _scratch = Path(tempfile.mkdtemp(prefix="carematch-spark-"))
        spark.sparkContext.setCheckpointDir(str(_scratch / "checkpoints"))


def local_session(
    app_name: str = "carematch-linkage", *, conf: Mapping[str, str] | None = None
) -> SparkSession:
    """The active Spark session, or a new local one sized for a two-core machine.

    A new session runs ``local[2]`` with :data:`LOCAL_CONF`, Splink's similarity jar on its
    class path, quiet logging (errors only), and its checkpoint directory, warehouse and
    shuffle spill in a temporary directory that :func:`stop_session` removes (also at exit).
    An active session is returned as it is, after adding the jar and a checkpoint directory
    if it has none, so a cluster session built by ``spark-submit`` is used unchanged.

    Args:
        app_name: the Spark application name of a new session.
        conf: settings that override :data:`LOCAL_CONF` for a new session.

    Raises:
        ImportError: pyspark is not installed (``pip install 'carematch[spark]'``).
    """
    global _owned, _scratch
    from pyspark.sql import SparkSession

    with _lock:
        active = SparkSession.getActiveSession()
        if active is not None:
            _ensure_splink_ready(active)
            return active

        scratch = Path(tempfile.mkdtemp(prefix="carematch-spark-"))
        (scratch / "log4j2.properties").write_text(_LOG4J2, encoding="utf-8")
        # Spark's launcher scripts read SPARK_LOCAL_IP before the JVM starts; without it they
        # look up the host name and warn when it resolves to a loopback address.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings = {
            **LOCAL_CONF,
            "spark.jars": similarity_jar(),
            "spark.local.dir": str(scratch / "local"),
            "spark.sql.warehouse.dir": str(scratch / "warehouse"),
            # Python workers (if any stage needs one) run this interpreter, not whatever
            # `python3` is first on PATH.
            "spark.pyspark.python": sys.executable,
            "spark.pyspark.driver.python": sys.executable,
            "spark.driver.extraJavaOptions": (
                f"-Dlog4j2.configurationFile=file:{scratch / 'log4j2.properties'}"
            ),
            **(conf or {}),
        }
        builder = SparkSession.builder.master(MASTER).appName(app_name)
        for key, value in settings.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        spark.sparkContext.setCheckpointDir(str(scratch / "checkpoints"))
        if _owned is None:
            atexit.register(stop_session)
        _owned, _scratch = spark, scratch
        return spark


# Similarity functions whose names differ between Splink's SQL dialects, by what they compute.
_SIMILARITY_FUNCTIONS = (
    "jaro_winkler_function_name",
    "jaro_function_name",
    "damerau_levenshtein_function_name",
    "levenshtein_function_name",
    "jaccard_function_name",
)


def model_for_dialect(model: dict[str, Any], dialect: str) -> dict[str, Any]:
    """A saved Splink model with its SQL rewritten for another engine's dialect.

    A model saved by Splink holds SQL in the dialect it was trained on: DuckDB quotes
    identifiers with ``"`` (a string literal in Spark SQL) and calls the similarity functions
    by other names (``jaro_winkler_similarity`` in DuckDB, the jar's ``jaro_winkler`` in
    Spark). Each comparison level's ``sql_condition`` and each blocking rule is transpiled
    with sqlglot and the similarity functions renamed; the trained parameters are kept as
    they are, so both engines score with the same model. A model already in ``dialect`` is
    returned unchanged.

    Args:
        model: the model as :meth:`splink.Linker.misc.save_model_to_json` returns it.
        dialect: Splink's name of the target dialect ("duckdb", "spark").
    """
    source = model.get("sql_dialect")
    if source is None or source == dialect:
        return model
    import sqlglot
    from splink.internals.dialects import SplinkDialect
    from sqlglot import exp

    src, dst = SplinkDialect.from_string(source), SplinkDialect.from_string(dialect)
    renames = {
        getattr(src, name).lower(): getattr(dst, name)
        for name in _SIMILARITY_FUNCTIONS
        if getattr(src, name).lower() != getattr(dst, name).lower()
    }

    def rename(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Func):
            return node
        called = node.sql(dialect=src.sqlglot_dialect).split("(", 1)[0].strip().lower()
        if called not in renames:
            return node
        if isinstance(node, exp.Anonymous):
            args = list(node.expressions)
        else:
            args = [node.args[k] for k in node.arg_types if node.args.get(k) is not None]
        return exp.Anonymous(this=renames[called], expressions=args)

    def translate(sql: str) -> str:
        tree = sqlglot.parse_one(sql, read=src.sqlglot_dialect).transform(rename)
        return tree.sql(dialect=dst.sqlglot_dialect)

    out = deepcopy(model)
    out["sql_dialect"] = dialect
    for comparison in out.get("comparisons", []):
        for level in comparison.get("comparison_levels", []):
            condition = level.get("sql_condition")
            if condition and condition.strip().upper() != "ELSE":
                level["sql_condition"] = translate(condition)
    rules = out.get("blocking_rules_to_generate_predictions", [])
    for i, rule in enumerate(rules):
        if isinstance(rule, str):
            rules[i] = translate(rule)
        elif isinstance(rule, dict) and rule.get("blocking_rule"):
            rule["blocking_rule"] = translate(rule["blocking_rule"])
            rule["sql_dialect"] = dialect
    return out


def stop_session() -> None:
    """Stop the session :func:`local_session` started and remove its temporary directory.

    A session this module did not start (a reused one) is left running.
    """
    global _owned, _scratch
    with _lock:
        spark, scratch = _owned, _scratch
        _owned, _scratch = None, None
        if spark is not None:
            spark.stop()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
