"""The Spark engine (`NBA_ENGINE=spark`): the session and Feast's Spark settings. Nothing here is
imported unless Spark is asked for."""
