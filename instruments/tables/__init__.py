"""Each instrument's fixed tables (index -> value, as its manual lists them), in one place for the qpclab adapter
and the simulated twin alike."""
