"""The float8 layer benchmark's CPU run: every variant timed, and the float8 layers (with and without fast
accumulation) computing what the half-precision layer computes, within float8's error."""

from sdcloud_tools.benchmarks.fp8_layers import VARIANTS, run, table


def test_the_smoke_run_times_every_variant_and_float8_stays_close_to_the_layer():
    rows = run(smoke=True)

    assert len(rows) == 1
    for row in rows:
        assert all(row[f"{name}_ms"] > 0 for name in VARIANTS)
        assert 0 < row["fp8_relative_error"] < 0.1 and 0 < row["fp8-fast-accum_relative_error"] < 0.1
    assert table(rows).count("\n") == 2
