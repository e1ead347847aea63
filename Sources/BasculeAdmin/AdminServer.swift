// Filled in by the operator-surface work.
