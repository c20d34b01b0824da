"""The offline build: transforms over a dataset into the Parquet offline store (locally or on
Spark)."""
