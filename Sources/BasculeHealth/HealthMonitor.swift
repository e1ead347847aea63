// Filled in by the health-check work.
