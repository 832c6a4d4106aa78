"""Table definitions of the dataset for each query engine, made from schema.py.

Athena gets external tables with partition projection (no crawler, no MSCK: the ``date``
partitions are computed from the query's filter); Trino (Hive connector) and Spark get external
tables over the same location with the partition sync they need; DuckDB gets views over the
files. The UTC timestamp columns are Parquet timestamps adjusted to UTC (milliseconds).
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa

from app.dataset.schema import PARTITION_COLUMN, SCHEMA_VERSION, TABLES, Table

__all__ = ["ENGINES", "Engine", "ddl"]

Engine = Literal["athena", "trino", "spark", "duckdb"]
ENGINES: tuple[Engine, ...] = ("athena", "trino", "spark", "duckdb")
_TYPES: dict[str, dict[Engine, str]] = {
    "string": {"athena": "string", "trino": "varchar", "spark": "STRING", "duckdb": "VARCHAR"},
    "int64": {"athena": "bigint", "trino": "bigint", "spark": "BIGINT", "duckdb": "BIGINT"},
    "bool": {"athena": "boolean", "trino": "boolean", "spark": "BOOLEAN", "duckdb": "BOOLEAN"},
    "timestamp[ms, tz=UTC]": {
        "athena": "timestamp",
        "trino": "timestamp(3)",
        "spark": "TIMESTAMP",
        "duckdb": "TIMESTAMPTZ",
    },
}
FIRST_DATE = "2020-01-01"  # where Athena's projected date range starts


def sql_type(data_type: pa.DataType, engine: Engine) -> str:
    return _TYPES[str(data_type)][engine]


def ddl(engine: Engine, location: str, *, schema: str = "genesys") -> str:
    """Every table's definition for ``engine``, with the tables at ``location`` (an
    ``s3://bucket/prefix/`` URI or a local directory)."""
    base = location if location.endswith("/") else location + "/"
    header = (
        f"-- genesys-reports dataset, schema version {SCHEMA_VERSION}, for {engine}.\n"
        "-- Filter on `report` (two reports may hold the same events) and, across manual\n"
        "-- re-runs over other bounds, on `period`.\n"
    )
    if engine == "trino":
        header += (
            "-- Times are UTC instants: set hive.parquet.time-zone=UTC in the Hive catalog, or\n"
            "-- Trino reads them in the JVM's zone.\n"
        )
    parts = [_table(engine, table, base, schema) for table in TABLES.values()]
    return header + "\n".join(parts)


def _table(engine: Engine, table: Table, base: str, schema: str) -> str:
    where = f"{base}{table.name}/"
    if engine == "duckdb":
        return (
            f"CREATE OR REPLACE VIEW {schema}_{table.name} AS\n"
            f"SELECT * FROM read_parquet('{where}*/*.parquet', hive_partitioning = true, "
            "union_by_name = true);\n"
        )
    columns = ",\n".join(
        f"  {_quoted(c.name, engine)} {sql_type(c.type, engine)}"
        + (f" COMMENT '{_comment(c.meaning, c.unit)}'" if engine != "trino" else "")
        for c in table.columns
    )
    if engine == "athena":
        return "\n".join(
            [
                f"CREATE EXTERNAL TABLE IF NOT EXISTS {schema}.{table.name} (",
                columns,
                ")",
                f"COMMENT '{_comment(table.meaning, '')}'",
                f"PARTITIONED BY (`{PARTITION_COLUMN}` string)",
                "STORED AS PARQUET",
                f"LOCATION '{where}'",
                "TBLPROPERTIES (",
                _projection(where),
                ");",
                "",
            ]
        )
    if engine == "spark":
        return "\n".join(
            [
                f"CREATE TABLE IF NOT EXISTS {schema}.{table.name} (",
                columns + ",",
                f"  `{PARTITION_COLUMN}` STRING",
                ")",
                "USING PARQUET",
                f"PARTITIONED BY (`{PARTITION_COLUMN}`)",
                f"LOCATION '{where}';",
                f"MSCK REPAIR TABLE {schema}.{table.name};  -- again after new dates arrive",
                "",
            ]
        )
    return "\n".join(  # trino, Hive connector
        [
            f"CREATE TABLE IF NOT EXISTS hive.{schema}.{table.name} (",
            columns + ",",
            f'  "{PARTITION_COLUMN}" varchar',
            ")",
            "WITH (",
            "  format = 'PARQUET',",
            f"  partitioned_by = ARRAY['{PARTITION_COLUMN}'],",
            f"  external_location = '{where}'",
            ");",
            f"CALL hive.system.sync_partition_metadata('{schema}', '{table.name}', 'ADD');",
            "",
        ]
    )


def _projection(where: str) -> str:
    properties = {
        "projection.enabled": "true",
        f"projection.{PARTITION_COLUMN}.type": "date",
        f"projection.{PARTITION_COLUMN}.format": "yyyy-MM-dd",
        f"projection.{PARTITION_COLUMN}.range": f"{FIRST_DATE},NOW",
        f"projection.{PARTITION_COLUMN}.interval": "1",
        f"projection.{PARTITION_COLUMN}.interval.unit": "DAYS",
        "storage.location.template": f"{where}{PARTITION_COLUMN}=${{{PARTITION_COLUMN}}}/",
        "parquet.compression": "ZSTD",
    }
    return ",\n".join(f"  '{key}'='{value}'" for key, value in properties.items())


def _quoted(name: str, engine: Engine) -> str:
    return f'"{name}"' if engine == "trino" else f"`{name}`"


def _comment(text: str, unit: str) -> str:
    # No apostrophes in the meanings (schema.py): Hive doubles them, Spark backslashes them.
    full = f"{text} ({unit})" if unit else text
    if "'" in full:
        raise ValueError(f"a column meaning must not hold an apostrophe: {full!r}")
    return full
