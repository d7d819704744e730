"""The GIL is released while the engine works: two threads reading the same
database make progress together."""

import threading
import time

# Thread B's reads take at least this long each (seconds)...
SHORT_CALL_SECS = 0.01
# ...and each of thread A's long reads at least this many times as long.
LONG_CALL_RATIO = 40
# B must fit at least this many whole reads into A's two long reads.
MIN_READS_INSIDE = 12


def fastest(f, times=3):
    """The shortest time `f()` takes in `times` calls."""
    best = None
    for _ in range(times):
        started = time.monotonic()
        f()
        took = time.monotonic() - started
        best = took if best is None else min(best, took)
    return best


def test_two_reading_threads_make_progress_together(store):
    """Thread A makes long reads (each a multi_get of many keys, which the
    engine serves in one call) while thread B makes shorter reads in a loop;
    we count B's reads that began and ended within one of A's.

    B needs the GIL to start and to return from each of its reads. Were the
    GIL held for the length of A's call, B could run only while A waits for
    the GIL just before or after its call (Python forces a switch every 5 ms):
    at most a read or two on either side of each long read of A (0 or 1 in
    all were seen with bindings built to keep the GIL). With the GIL
    released, B's reads proceed during A's: up to LONG_CALL_RATIO per long
    read, fewer when the two threads share a busy CPU (15 to 95 were seen)."""
    n = 20_000
    keys = [b"key-%06d" % i for i in range(n)]
    with store.open() as db:
        with db.write_batch() as batch:
            for k in keys:
                batch.put(k, k + b"-" + b"v" * 100)
        db.flush()

    # Without block caches every read of the chunk fetches its blocks from the
    # bucket: A's reads do I/O (the first one also fetches the chunk's index).
    # B reads keys in the memtable: its reads keep their pace whatever the
    # bucket's server is doing for A.
    with store.open("reader", block_cache_bytes=0, disk_cache_bytes=0) as db:
        assert db.multi_get(keys)[-1] == keys[-1] + b"-" + b"v" * 100
        hot = [b"hot-%06d" % i for i in range(n)]
        with db.write_batch() as batch:
            for k in hot:
                batch.put(k, b"in the memtable")
        # Size B's reads, then A's (by their fastest calls: a slow one is noise).
        short_keys = hot[:64]
        while (short_secs := fastest(lambda: db.multi_get(short_keys))) < SHORT_CALL_SECS:
            assert len(short_keys) < 256 * n, "a multi_get never takes long enough"
            short_keys = (hot * (1 + 2 * len(short_keys) // n))[: 2 * len(short_keys)]
        long_keys = keys
        while fastest(lambda: db.multi_get(long_keys), 2) < LONG_CALL_RATIO * short_secs:
            assert len(long_keys) < 256 * n, "a multi_get never takes long enough"
            long_keys = long_keys * 2

        long_calls = []  # (start, end) of each of A's reads
        short_calls = []  # (start, end) of each of B's reads
        stop = threading.Event()
        errors = []

        def long_reader():
            try:
                for _ in range(2):
                    started = time.monotonic()
                    got = db.multi_get(long_keys)
                    long_calls.append((started, time.monotonic()))
                    assert len(got) == len(long_keys)
            except Exception as e:  # reported below
                errors.append(e)
            finally:
                stop.set()

        def short_reader():
            try:
                while not stop.is_set():
                    started = time.monotonic()
                    got = db.multi_get(short_keys)
                    short_calls.append((started, time.monotonic()))
                    assert got[0] == b"in the memtable"
            except Exception as e:  # reported below
                errors.append(e)

        b = threading.Thread(target=short_reader)
        a = threading.Thread(target=long_reader)
        b.start()
        a.start()
        a.join()
        b.join()
        assert errors == []
        inside = [
            sum(1 for bs, be in short_calls if s < bs and be < e) for s, e in long_calls
        ]
        assert sum(inside) >= MIN_READS_INSIDE, (
            f"thread B finished {inside} of its reads ({short_secs * 1000:.1f} ms each alone) "
            f"within A's reads of {[round(e - s, 3) for s, e in long_calls]} s: "
            "the GIL was not released"
        )
