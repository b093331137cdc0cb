"""Spark for the linkage engine (``carematch link --engine spark``).

:func:`local_session` starts Spark in local mode, sized for a two-core machine, with what
Splink's Spark backend needs: its similarity jar (the Scala UDFs ``jaro_winkler``,
``damerau_levenshtein`` … that :class:`splink.SparkAPI` registers on every session it is given)
and a checkpoint directory (Splink breaks the lineage of its intermediate tables by writing
them there as Parquet). A session that is already active (a ``pyspark`` shell, a notebook, a
driver started by ``spark-submit`` on a cluster) is reused instead and given only the jar and
a checkpoint directory. :func:`stop_session` stops the session this module started and
removes its scratch directory.

:func:`splink_api` gives each linkage run Splink's backend on its own child session (shared
SparkContext, private temporary views), so one session serves any number of runs, and
:func:`model_for_dialect` rewrites a saved model's SQL for another engine, so a model trained
on DuckDB scores on Spark and the other way round.

pyspark is optional (the ``[spark]`` extra) and needs Java 17 or newer; nothing here imports
it before a session is asked for. See docs/linkage-spark.md.
"""

from __future__ import annotations

import atexit
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

MASTER = "local[2]"
"""Two worker threads: one per core of the machines CareMatch is sized for, CI included."""

LOCAL_CONF: dict[str, str] = {
    # One task per core. Spark's default of 200 shuffle partitions turns each of Splink's
    # many small joins and aggregations into 200 near-empty tasks.
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    # Adaptive query execution re-plans at every stage boundary. Splink runs hundreds of tiny
    # queries (a 21-way UNION of blocking joins, one aggregation per EM iteration); on them
    # re-planning costs more than it saves (measured: a cold prediction run 35 s → 23 s).
    "spark.sql.adaptive.enabled": "false",
    # The input arrives from pandas as a local relation that Splink's blocking query scans
    # twice per rule (42 scans for 21 rules). This optimizer rule copies the rows for every
    # scan: 25,000 records ran a 2 GiB driver out of heap; without it they fit easily.
    "spark.sql.optimizer.excludedRules": (
        "org.apache.spark.sql.catalyst.optimizer.ConvertToLocalRelation"
    ),
    # Driver and executors share one JVM in local mode. 2 GiB holds a city of tens of
    # thousands of records and leaves the machine to DuckDB, the database and the tests.
    "spark.driver.memory": "2g",
    # No web UI (a port and a thread nobody looks at) and no console progress bars.
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # No network: bind to and advertise loopback only, so Spark neither resolves the host
    # name nor listens on a public interface. The jar is a local file; nothing goes through
    # spark.jars.packages, which would fetch from a Maven repository.
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    # In-memory catalog: no Hive metastore (Derby would create metastore_db/ in the cwd).
    "spark.sql.catalogImplementation": "in-memory",
    # Arrow for pandas ↔ Spark: Splink registers the input as a pandas frame and the scored
    # pairs come back as one; it falls back to the row-by-row path for types Arrow lacks.
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "true",
    # Results must not depend on the machine's time zone.
    "spark.sql.session.timeZone": "UTC",
}

# Spark's INFO narration off, errors kept. Spark's own loggers are configured explicitly so
# that Spark, which treats a pyspark driver as a shell, does not announce and impose a
# "default log level" of WARN.
_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
logger.spark.name = org.apache.spark
logger.spark.level = error
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
"""

_lock = threading.RLock()
_owned: SparkSession | None = None  # the session local_session started
_scratch: Path | None = None  # its temporary directory
_borrowed_scratch: list[Path] = []  # checkpoint directories given to reused sessions
_jar_added: set[str] = set()  # application ids of reused sessions given the jar
_cleanup_registered = False


def similarity_jar() -> str:
    """Path of Splink's similarity-UDF jar for the installed Spark major version."""
    from splink.backends.spark import similarity_jar_location

    return str(similarity_jar_location())


def _ensure_splink_ready(spark: SparkSession) -> None:
    """Give a session Splink's jar and a checkpoint directory if it lacks them."""
    context = spark.sparkContext
    jar = similarity_jar()
    configured = context.getConf().get("spark.jars") or ""
    if Path(jar).name not in configured and context.applicationId not in _jar_added:
        # ADD JAR puts the jar on the class loader that every session of this context
        # shares, where SparkAPI's registerJavaFunction finds the UDF classes.
        spark.sql(f"ADD JAR '{jar}'")
        _jar_added.add(context.applicationId)
    if context.getCheckpointDir() is None:
        folder = Path(tempfile.mkdtemp(prefix="carematch-spark-checkpoints-"))
        _borrowed_scratch.append(folder)
        _register_cleanup()
        context.setCheckpointDir(str(folder))


def _register_cleanup() -> None:
    global _cleanup_registered
    if not _cleanup_registered:
        atexit.register(_at_exit)
        _cleanup_registered = True


def local_session(
    app_name: str = "carematch-linkage", *, conf: Mapping[str, str] | None = None
) -> SparkSession:
    """The active Spark session, or a new local one sized for a two-core machine.

    A new session runs :data:`MASTER` with :data:`LOCAL_CONF`, Splink's similarity jar,
    errors-only logging, and its checkpoint directory, warehouse and spill space in a
    temporary directory that :func:`stop_session` removes (at interpreter exit at the latest).
    While that session runs it is returned again. Otherwise an active session is returned as
    it is, given the jar and a checkpoint directory if it lacks them, so a session built by
    ``spark-submit`` for a cluster is used unchanged.

    Args:
        app_name: the Spark application name of a new session.
        conf: settings that override :data:`LOCAL_CONF` for a new session
            (e.g. ``{"spark.driver.memory": "8g"}``).

    Raises:
        ImportError: pyspark is not installed (``pip install 'carematch[spark]'``).
        RuntimeError: Spark did not start (no Java 17+ on PATH or JAVA_HOME, say).
    """
    global _owned, _scratch
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ImportError("the Spark engine needs pyspark: pip install 'carematch[spark]'") from exc

    with _lock:
        active = SparkSession.getActiveSession()
        if active is not None:
            # pyspark makes whichever session last created a DataFrame the active one (a
            # linkage run's child session, say); the session we started stays the one we hand
            # out for as long as its context runs.
            if _owned is not None and active.sparkContext is _owned.sparkContext:
                return _owned
            _ensure_splink_ready(active)
            return active

        scratch = Path(tempfile.mkdtemp(prefix="carematch-spark-"))
        log4j = scratch / "log4j2.properties"
        log4j.write_text(_LOG4J2, encoding="utf-8")
        # Spark's launcher reads SPARK_LOCAL_IP before the JVM starts; without it, it looks
        # up the host name and warns when that resolves to a loopback address.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings = {
            **LOCAL_CONF,
            "spark.jars": similarity_jar(),
            "spark.local.dir": str(scratch / "local"),
            "spark.sql.warehouse.dir": str(scratch / "warehouse"),
            # Python workers, should a stage need one, run this interpreter rather than
            # whichever python3 comes first on PATH.
            "spark.pyspark.python": sys.executable,
            "spark.pyspark.driver.python": sys.executable,
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{log4j}",
            **(conf or {}),
        }
        builder = SparkSession.builder.master(MASTER).appName(app_name)
        for key, value in settings.items():
            builder = builder.config(key, value)
        try:
            spark = builder.getOrCreate()
        except Exception as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            raise RuntimeError(
                f"Spark did not start; pyspark needs Java 17 or newer on PATH or JAVA_HOME: {exc}"
            ) from exc
        spark.sparkContext.setLogLevel("ERROR")
        spark.sparkContext.setCheckpointDir(str(scratch / "checkpoints"))
        _register_cleanup()
        _owned, _scratch = spark, scratch
        return spark


def splink_api(spark: SparkSession | None = None) -> Any:
    """Splink's Spark backend for one linkage run.

    The run gets a child of ``spark`` (or of :func:`local_session`): it shares the
    SparkContext, its jar and its checkpoint directory, but has its own temporary views and
    UDF registrations, so the input table of one run never collides with another's.

    Args:
        spark: a session to run on; by default the active or a new local session.

    Returns:
        A :class:`splink.SparkAPI`.
    """
    from splink import SparkAPI

    base = spark if spark is not None else local_session()
    _ensure_splink_ready(base)
    with _lock:
        ours = _owned is not None and base.sparkContext is _owned.sparkContext
    # Splink repartitions its big intermediate tables into half the shuffle partitions;
    # on our local session that would be one partition, i.e. one busy core of two.
    partitions = int(LOCAL_CONF["spark.default.parallelism"]) if ours else None
    return SparkAPI(spark_session=base.newSession(), num_partitions_on_repartition=partitions)


def stop_session() -> None:
    """Stop the session :func:`local_session` started and remove its temporary directory.

    A reused session (one this module did not start) is left running.
    """
    global _owned, _scratch
    with _lock:
        spark, scratch = _owned, _scratch
        _owned, _scratch = None, None
        if spark is not None:
            spark.stop()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _at_exit() -> None:
    stop_session()
    for folder in _borrowed_scratch:
        shutil.rmtree(folder, ignore_errors=True)


# Similarity functions whose names differ between Splink's SQL dialects, by what they compute.
_SIMILARITY_FUNCTIONS = (
    "jaro_winkler_function_name",
    "jaro_function_name",
    "damerau_levenshtein_function_name",
    "levenshtein_function_name",
    "jaccard_function_name",
)
# Array functions sqlglot leaves as written (DuckDB's list_* are its own names); their
# argument order and meaning are the same in both engines.
_ARRAY_FUNCTIONS = {
    ("duckdb", "spark"): {"list_intersect": "array_intersect"},
    ("spark", "duckdb"): {"array_intersect": "list_intersect"},
}


def model_for_dialect(model: dict[str, Any], dialect: str) -> dict[str, Any]:
    """A saved Splink model with its SQL rewritten for another engine's dialect.

    A model saved by Splink holds SQL in the dialect it was trained in: DuckDB quotes
    identifiers with ``"`` (a string literal in Spark SQL, so ``"id18_l" = "id18_r"`` would
    compare two constants) and calls the similarity functions by other names
    (``jaro_winkler_similarity`` in DuckDB, the jar's ``jaro_winkler`` in Spark). Each
    comparison level's ``sql_condition`` and each blocking rule is transpiled with sqlglot
    and the similarity functions renamed; the trained parameters are kept, so both engines
    score with the same model. A model already in ``dialect`` is returned unchanged.

    Args:
        model: a model as ``linker.misc.save_model_to_json()`` returns it.
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
    renames.update(_ARRAY_FUNCTIONS.get((source, dialect), {}))

    def rename(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Func):
            return node
        called = node.sql(dialect=src.sqlglot_dialect).split("(", 1)[0].strip().lower()
        if called not in renames:
            return node
        if isinstance(node, exp.Anonymous):
            args = list(node.expressions)
        else:
            args = []
            for key in node.arg_types:
                value = node.args.get(key)
                if isinstance(value, list):
                    args.extend(value)
                elif value is not None:
                    args.append(value)
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
