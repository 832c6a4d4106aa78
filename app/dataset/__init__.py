"""The Parquet dataset: a report's events and conversations as Hive-partitioned tables that
Athena, Trino, Spark and DuckDB query in place (README "The dataset")."""
