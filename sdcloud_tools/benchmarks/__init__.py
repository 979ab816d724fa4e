"""GPU benchmarks of the inference pipeline: plain diffusers against the fast path."""
