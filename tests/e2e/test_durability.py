"""kill -9 at random moments, under load from every acknowledging protocol, loses nothing
acknowledged and duplicates nothing (the harness is `crash_load.py`; `bench/crash.py` runs it
for many more kills)."""

from crash_load import crash_rounds

KILLS = 8


def test_sigkill_under_mixed_load_loses_nothing_acknowledged(make_fluoro):
    # Small flush thresholds so kills also land during flushes and WAL truncation.
    fluoro = make_fluoro(extra_args=["--flush-interval-secs", "1", "--flush-bytes", "200000"])
    kills, checked, acked, load = crash_rounds(fluoro, KILLS, seed=20261122)
    assert kills == KILLS
    for kind, ledger in load.ledgers.items():
        if kind != "udp_segments":
            assert ledger.acked, f"no {kind} record was acknowledged: the load did not run"
    assert checked > 1000
