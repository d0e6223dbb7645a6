"""Table schemas, the Parquet warehouse and the recordings source."""
