"""Tools around the system, never shipped in the inference image: tiny sample models and the benchmarks."""
