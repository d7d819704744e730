"""The API of the `firn` module: reads and writes, batches, scans, snapshots,
flush, compaction, checkpoints, metrics and options, on every store (see
conftest.py)."""

import time

import pytest

import firn


def key(i):
    return b"key-%05d" % i


def value(i):
    return b"value-%05d-" % i + b"v" * (40 + i % 30)


def test_round_trip_survives_close_and_a_cold_open(store):
    with store.open() as db:
        assert db.get(b"missing") is None
        db.put(b"user/1", b"ada")
        db.put("user/2", "grace")  # str is stored as UTF-8
        db.put(bytearray(b"user/3"), bytearray(b"linus"))
        db.put(b"empty-value", b"")
        assert db.get(b"user/1") == b"ada"
        assert db.get("user/2") == b"grace"  # reads return bytes
        assert db.get(b"user/3") == b"linus"
        assert db.get(b"empty-value") == b""
        db.put(b"user/1", b"ada lovelace")
        db.delete(b"user/3")
        db.delete(b"never-written")  # deleting an absent key is no error
        assert db.get(b"user/1") == b"ada lovelace"
        assert db.get(b"user/3") is None
        binary = bytes(range(256))
        db.put(binary, binary[::-1])
        assert db.get(binary) == binary[::-1]
    assert db.closed
    # close() flushed everything into the bucket: a fresh local directory sees it.
    with store.open("another-machine") as db:
        assert db.get(b"user/1") == b"ada lovelace"
        assert db.get(b"user/2") == b"grace"
        assert db.get(b"user/3") is None
        assert db.get(bytes(range(256))) == bytes(range(256))[::-1]
        assert db.metrics()["requests"]["get"] > 0


def test_keys_and_values_of_other_types_are_type_errors(store):
    with store.open() as db:
        with pytest.raises(TypeError, match="key must be bytes, bytearray or str, not int"):
            db.get(42)
        with pytest.raises(TypeError, match="value must be"):
            db.put(b"k", 3.5)
        with pytest.raises(TypeError, match="not a single key"):
            db.multi_get(b"abc")
        with pytest.raises(TypeError):
            db.write([("k", "v")])


def test_multi_get_reads_every_key_in_order(store):
    with store.open() as db:
        for i in range(0, 100, 2):
            db.put(key(i), value(i))
        db.flush()
        for i in range(1, 100, 4):
            db.put(key(i), value(i))  # some in the memtable, some in a chunk
        keys = [key(i) for i in range(100)]
        got = db.multi_get(keys)
        want = [value(i) if i % 2 == 0 or i % 4 == 1 else None for i in range(100)]
        assert got == want
        assert db.multi_get(iter([key(2), b"nope", key(2)])) == [value(2), None, value(2)]
        assert db.multi_get([]) == []


def test_write_batches_are_atomic_and_chain(store):
    with store.open() as db:
        db.put(b"old", b"x")
        batch = firn.WriteBatch()
        assert len(batch) == 0
        returned = batch.put(b"a", b"1").put(b"b", b"2").delete(b"old")
        assert returned is batch
        assert len(batch) == 3
        seq1 = db.write(batch)
        assert (db.get(b"a"), db.get(b"b"), db.get(b"old")) == (b"1", b"2", None)
        # The batch is left as it was; writing it again is a new commit.
        assert len(batch) == 3
        seq2 = db.write(batch, durability="sync")
        assert seq2 > seq1
        batch.clear()
        assert len(batch) == 0
        with pytest.raises(firn.InvalidArgumentError, match="empty write batch"):
            db.write(batch)

        # The with-block form: written when the block ends...
        with db.write_batch() as b:
            b.put(b"c", b"3")
            b.delete(b"a")
            assert db.get(b"c") is None  # nothing before the block ends
        assert db.get(b"c") == b"3" and db.get(b"a") is None
        # ...discarded when it raises...
        with pytest.raises(RuntimeError):
            with db.write_batch() as b:
                b.put(b"d", b"4")
                raise RuntimeError("abandon the batch")
        assert db.get(b"d") is None
        # ...and an empty block writes nothing.
        with db.write_batch():
            pass
        # A free-standing batch has no database to write itself to.
        with pytest.raises(firn.InvalidArgumentError, match="Db.write"):
            with firn.WriteBatch() as b:
                b.put(b"e", b"5")


def test_puts_with_a_ttl_expire(store):
    with store.open() as db:
        db.put(b"short", b"lived", ttl=0.2)
        db.write(firn.WriteBatch().put(b"batch-short", b"lived", ttl=0.2).put(b"forever", b"x"))
        db.put(b"long", b"lived", ttl=3600)
        assert db.get(b"short") == b"lived"
        time.sleep(0.5)
        assert db.get(b"short") is None
        assert db.get(b"batch-short") is None
        assert db.get(b"forever") == b"x"
        assert db.get(b"long") == b"lived"
        with pytest.raises(firn.InvalidArgumentError, match="ttl"):
            db.put(b"k", b"v", ttl=-1)


def test_scans_forward_reverse_bounded_and_by_prefix(store):
    with store.open() as db:
        # Half the keys in a chunk, half in the memtable, one overwritten, one deleted.
        for i in range(0, 60, 2):
            db.put(key(i), value(i))
        db.flush()
        for i in range(1, 60, 2):
            db.put(key(i), value(i))
        db.put(key(10), b"new")
        db.delete(key(11))
        db.put(b"other/1", b"o1")
        db.put(b"other/2", b"o2")

        expected = {key(i): value(i) for i in range(60) if i != 11}
        expected[key(10)] = b"new"
        expected[b"other/1"] = b"o1"
        expected[b"other/2"] = b"o2"
        everything = sorted(expected.items())

        it = db.scan()
        assert iter(it) is it
        assert list(it) == everything
        assert list(it) == []  # an ended scan stays ended
        assert list(db.scan(reverse=True)) == everything[::-1]
        # [start, end): start included, end excluded.
        assert [k for k, _ in db.scan(key(5), key(9))] == [key(5), key(6), key(7), key(8)]
        assert [k for k, _ in db.scan(key(5), key(9), reverse=True)] == [
            key(8), key(7), key(6), key(5),
        ]
        assert [k for k, _ in db.scan(start=b"other/")] == [b"other/1", b"other/2"]
        assert [k for k, _ in db.scan(end=key(2))] == [key(0), key(1)]
        assert list(db.scan(prefix="other/")) == [(b"other/1", b"o1"), (b"other/2", b"o2")]
        assert list(db.scan(prefix=b"other/", reverse=True)) == [
            (b"other/2", b"o2"), (b"other/1", b"o1"),
        ]
        assert list(db.scan(prefix=b"nothing")) == []
        # Every item is a (bytes, bytes) tuple.
        k, v = next(db.scan(prefix=b"key-"))
        assert (type(k), type(v)) == (bytes, bytes)
        # seek moves a scan within its range, either way.
        it = db.scan(prefix=b"key-")
        it.seek(key(50))
        assert next(it)[0] == key(50)
        it = db.scan(prefix=b"key-", reverse=True)
        it.seek(key(11))  # deleted: the next key backwards
        assert next(it)[0] == key(10)
        with pytest.raises(firn.InvalidArgumentError, match="either a prefix or start/end"):
            db.scan(b"a", prefix=b"b")


def test_a_scan_reads_at_the_moment_it_was_made(store):
    with store.open() as db:
        for i in range(10):
            db.put(key(i), b"before")
        it = db.scan()
        first = next(it)
        for i in range(10):
            db.put(key(i), b"after")
        db.put(key(99), b"new")
        rest = list(it)
        assert [first] + rest == [(key(i), b"before") for i in range(10)]


def test_snapshots_keep_their_view_across_flush_and_compaction(store):
    with store.open() as db:
        for i in range(20):
            db.put(key(i), b"v1")
        snap = db.snapshot()
        seq = snap.seq
        for i in range(20):
            db.put(key(i), b"v2")
        db.delete(key(0))
        db.put(b"zzz", b"later")
        db.flush()
        db.compact()
        assert db.get(key(0)) is None and db.get(key(1)) == b"v2"
        assert snap.get(key(0)) == b"v1"
        assert snap.get(b"zzz") is None
        assert snap.multi_get([key(0), key(5), b"zzz"]) == [b"v1", b"v1", None]
        assert list(snap.scan()) == [(key(i), b"v1") for i in range(20)]
        assert [k for k, _ in snap.scan(key(3), key(6), reverse=True)] == [key(5), key(4), key(3)]
        assert list(snap.scan(prefix=b"zzz")) == []
        assert snap.seq == seq
        snap.close()
        with pytest.raises(firn.ClosedError, match="snapshot is closed"):
            snap.get(key(1))
        # As a context manager it is released at the end of the block.
        with db.snapshot() as s:
            assert s.get(key(1)) == b"v2"
        with pytest.raises(firn.ClosedError):
            list(s.scan())


def test_flush_compact_checkpoint_and_metrics(store):
    with store.open(auto_compaction=False) as db:
        before = db.metrics()
        assert before["flushes"] == 0 and before["requests"]["put"] >= 1
        for round in range(3):
            for i in range(50):
                db.put(key(i), b"round-%d" % round)
            chunks = db.flush()
            assert len(chunks) == 1 and isinstance(chunks[0], str)
        assert db.flush() == []  # nothing new to flush
        m = db.metrics()
        assert m["flushes"] == 3 and m["l0_chunks"] == 3
        assert m["requests"]["put"] > before["requests"]["put"]
        assert m["requests"]["bytes_written"] > 0
        assert isinstance(m["cache"], dict) and "memory_hits" in m["cache"]
        assert m["visible_seq"] == 150

        db.compact()
        m = db.metrics()
        assert m["compactions"] >= 1 and m["l0_chunks"] == 0 and m["run_chunks"] >= 1
        assert db.get(key(7)) == b"round-2"

        cp = db.checkpoint("before-round-3")
        assert cp["name"] == "before-round-3"
        assert cp["manifest_version"] >= 1 and len(cp["db_id"]) == 32
        for i in range(50):
            db.put(key(i), b"round-3")
        db.flush()
        assert [c["name"] for c in db.list_checkpoints()] == ["before-round-3"]
        status = db.durability_status()
        assert status["visible_seq"] == 200
        db.wait_durable(status["visible_seq"])
        assert db.durability_status()["bucket_durable_seq"] == 200

        # The checkpoint opens read-only, as it was.
        with store.open("checkpoint-reader", checkpoint="before-round-3") as old:
            assert old.get(key(7)) == b"round-2"
            assert len(list(old.scan())) == 50
            with pytest.raises(firn.ReadOnlyError):
                old.put(b"k", b"v")
        db.delete_checkpoint("before-round-3")
        assert db.list_checkpoints() == []
        with pytest.raises(firn.InvalidArgumentError, match="bad checkpoint name"):
            db.checkpoint("../escape")
        assert db.get(key(7)) == b"round-3"


def test_options_reach_the_engine(store):
    # A small memtable flushes by itself; sync durability syncs every write.
    with store.open(memtable_size=16 << 10, durability="sync", block_cache_bytes=1 << 20,
                    wal_ship_interval=0.05, compaction_policy="leveled") as db:
        for i in range(400):
            db.put(key(i), value(i))
        m = db.metrics()
        assert m["wal_syncs"] >= 1
        deadline = time.monotonic() + 30
        while db.metrics()["flushes"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert db.metrics()["flushes"] >= 1
        assert db.get(key(399)) == value(399)
    # A reader opened read-only sees the data and refuses writes.
    with store.open("reader", read_only=True, refresh_interval=1) as ro:
        assert ro.get(key(0)) == value(0)
        ro.refresh()
        with pytest.raises(firn.ReadOnlyError):
            ro.delete(key(0))
    assert "memtable_size" in firn.OPTIONS and "s3_endpoint" in firn.OPTIONS


def test_writes_from_many_threads(store):
    import threading

    with store.open() as db:
        errors = []

        def writer(t):
            try:
                for i in range(200):
                    db.put(b"t%d-%04d" % (t, i), b"%d" % i)
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(list(db.scan())) == 800
        assert db.metrics()["batches"] == 800


def test_range_deletes_and_reads_at_an_older_seq(store):
    with store.open(read_history=3600) as db:
        for i in range(100):
            db.put(key(i), value(i))
        before = db.write(firn.WriteBatch().put(b"marker", b"1"))
        db.delete_range(key(10), key(90))
        assert db.get(key(10)) is None and db.get(key(89)) is None
        assert db.get(key(9)) == value(9) and db.get(key(90)) == value(90)
        assert len(list(db.scan(prefix=b"key"))) == 20
        db.write(firn.WriteBatch().delete_range(key(0), key(5)))
        assert [k for k, _ in db.scan(end=key(10))] == [key(i) for i in range(5, 10)]
        db.flush()
        db.compact()
        # The state before the range deletes is still readable at its seq.
        assert db.oldest_readable_seq() <= before
        with db.snapshot_at(before) as snap:
            assert snap.get(key(50)) == value(50)
            assert len(list(snap.scan(prefix=b"key"))) == 100
        with pytest.raises(firn.InvalidArgumentError) as refused:
            db.snapshot_at(before + 1000)
        assert refused.value.kind == "seq_out_of_range"
        with pytest.raises(firn.InvalidArgumentError):
            db.delete_range(key(5), key(1))
