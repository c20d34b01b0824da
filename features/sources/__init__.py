"""Where data comes from: the dataset on disk, loaders for real data, validation, and behavior
statistics."""
