"""The Feast store and the online path: opening the store, registering and materializing it, the
live updates, their history and logs, product events, and the one adapter around Feast's
internals."""
