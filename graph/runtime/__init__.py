"""A run's life outside the state machine: its files, resources, bookkeeping, progress and driver."""
