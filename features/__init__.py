"""Data and features: everything before a model (docs/architecture.md has the picture).

Top level, imported by every subpackage: `settings` (every `NBA_*` setting), `schema` (column
names, event types), `transforms` (the one definition of every feature, offline and live) and
`quiet` (library chatter). Subpackages, each importing only the subpackages named in its
parentheses (tests/test_layers.py):

- `sources/`: the dataset on disk, loaders for real data, validation, behavior statistics.
- `repo/`: the Feast repository (entities, sources, views, feature services).
- `spark/`: the Spark session and Feast's Spark settings (`NBA_ENGINE=spark` only).
- `offline/`: the offline build, locally or on Spark (sources, repo, spark).
- `online/`: the Feast store, its operations, the live path and its history and logs, product
  events, the one adapter around Feast's internals (sources, repo, spark).
- `simulation/`: simulated worlds with ground truth: behavior, campaigns, product changes,
  the closed email loop (sources, online).
"""
