// Filled in by the relay work.
