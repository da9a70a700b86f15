"""The Data Advisor graph: state, run configuration, graph builder, CLI and run directory."""
