// Filled in by the event-loop work.
