"""On-demand benchmarks (not part of the test suites)."""
