"""Firn's errors arrive as the Python exception class of their kind. Each test
provokes the error for real: nothing is mocked."""

import pytest

import firn


def test_the_exception_classes_form_one_hierarchy():
    for cls in (
        firn.InvalidArgumentError,
        firn.CorruptionError,
        firn.FencedError,
        firn.ClosedError,
        firn.ReadOnlyError,
        firn.StoreError,
    ):
        assert issubclass(cls, firn.FirnError), cls
        assert cls.__module__ == "firn"
    assert issubclass(firn.FirnError, Exception)


def test_invalid_arguments_raise_invalid_argument_error(store):
    with store.open(max_key_size=1024) as db:
        with pytest.raises(firn.InvalidArgumentError, match="key") as e:
            db.put(b"k" * 1025, b"v")
        assert e.value.kind == "invalid_argument"
        with pytest.raises(firn.InvalidArgumentError):
            db.put(b"", b"empty keys are refused")
        with pytest.raises(firn.InvalidArgumentError, match="durability"):
            db.put(b"k", b"v", durability="eventually")
        # Nothing was written by the refused calls.
        assert list(db.scan()) == []
    # Options: an unknown name is named, a wrong type or range is refused.
    with pytest.raises(firn.InvalidArgumentError, match='unknown option "memtable_sise"'):
        store.open("o1", memtable_sise=1 << 20)
    with pytest.raises(firn.InvalidArgumentError, match="option memtable_size: expected"):
        store.open("o2", memtable_size="big")
    with pytest.raises(firn.InvalidArgumentError, match="option read_only: expected True or False"):
        store.open("o3", read_only=1)
    with pytest.raises(firn.InvalidArgumentError, match="memtable_size must be at least"):
        store.open("o4", memtable_size=100)


@pytest.mark.parametrize(
    "url",
    ["ftp://example/bucket", "not a url", "s3://", "file://relative/path"],
)
def test_a_bad_url_raises_invalid_argument_error(tmp_path, url):
    with pytest.raises(firn.InvalidArgumentError, match="URL|url") as e:
        firn.open(url, tmp_path / "local")
    assert isinstance(e.value, firn.FirnError)


def test_a_flipped_byte_in_a_chunk_raises_corruption_error(file_store):
    n = 300
    with file_store.open(block_size=512) as db:
        for i in range(n):
            db.put(b"key-%05d" % i, b"value-%05d-" % i + b"v" * 100)
    chunks = sorted((file_store.objects / "chunks").rglob("*.chunk"))
    assert len(chunks) == 1, chunks
    chunk = chunks[0]
    data = bytearray(chunk.read_bytes())
    data[10] ^= 0x5A  # inside data block 0 (at offset 0), which holds the first keys
    chunk.write_bytes(bytes(data))

    # Read cold, from an empty local directory: the block comes from the bucket.
    with file_store.open("cold") as db:
        with pytest.raises(firn.CorruptionError) as e:
            db.get(b"key-00000")
        assert e.value.kind == "corruption"
        assert chunk.name in str(e.value) and chunk.name in e.value.object
        # Keys in other blocks still read right; the damage is reported again.
        assert db.get(b"key-%05d" % (n - 1)) == b"value-%05d-" % (n - 1) + b"v" * 100
        with pytest.raises(firn.CorruptionError):
            db.get(b"key-00000")
        with pytest.raises(firn.CorruptionError):
            list(db.scan())


def test_a_second_writer_fences_the_first(store):
    first = store.open("machine-a")
    first.put(b"before", b"takeover")
    first.flush()
    second = store.open("machine-b")  # claims the database: a new epoch
    try:
        assert second.get(b"before") == b"takeover"
        # The first writer's next write that must reach the bucket finds the fence.
        with pytest.raises(firn.FencedError) as e:
            first.put(b"late", b"write", durability="remote")
        assert e.value.kind == "fenced"
        assert e.value.their_epoch > e.value.our_epoch
        # And from then on it accepts nothing.
        with pytest.raises(firn.FencedError):
            first.put(b"more", b"x")
        with pytest.raises(firn.FencedError):
            first.close()
        second.put(b"after", b"takeover")
        assert second.get(b"late") is None
    finally:
        second.close()


def test_reopening_a_fenced_writers_directory_raises_fenced_error(store):
    first = store.open("machine-a", wal_shipping=False)
    first.put(b"only", b"local")  # never reaches the bucket: no shipping, no flush
    second = store.open("machine-b")
    second.close()
    del first  # dropped without close: like a crash, its WAL stays
    import gc

    gc.collect()
    with pytest.raises(firn.FencedError) as e:
        store.open("machine-a")
    assert e.value.kind == "fenced_writes"
    assert e.value.first_seq == e.value.last_seq == 1
    assert "wal-export" in str(e.value)


def test_use_after_close_raises_closed_error(store):
    db = store.open()
    db.put(b"k", b"v")
    it = db.scan()
    snap = db.snapshot()
    batch = db.write_batch()
    db.close()
    db.close()  # closing twice is fine
    assert db.closed and "closed" in repr(db)
    calls = [
        lambda: db.get(b"k"),
        lambda: db.put(b"k", b"v"),
        lambda: db.delete(b"k"),
        lambda: db.multi_get([b"k"]),
        lambda: db.write(firn.WriteBatch().put(b"k", b"v")),
        lambda: db.scan(),
        lambda: db.snapshot(),
        lambda: db.flush(),
        lambda: db.compact(),
        lambda: db.checkpoint("c"),
        lambda: db.metrics(),
        lambda: next(it),
        lambda: snap.get(b"k"),
        lambda: list(snap.scan()),
        lambda: batch.put(b"k", b"v").__exit__(None, None, None),
    ]
    for call in calls:
        with pytest.raises(firn.ClosedError) as e:
            call()
        assert e.value.kind == "closed"
        assert "closed" in str(e.value)


def test_a_read_only_handle_raises_read_only_error(store):
    with store.open() as db:
        db.put(b"k", b"v")
        db.flush()
        with store.open("reader", read_only=True) as ro:
            assert ro.get(b"k") == b"v"
            for call in (
                lambda: ro.put(b"k", b"w"),
                lambda: ro.delete(b"k"),
                lambda: ro.write(firn.WriteBatch().put(b"k", b"w")),
                lambda: ro.flush(),
                lambda: ro.compact(),
                lambda: ro.checkpoint("c"),
            ):
                with pytest.raises(firn.ReadOnlyError) as e:
                    call()
                assert e.value.kind == "read_only"


def test_a_locked_local_directory_raises_store_error(store):
    with store.open("shared-dir") as db:
        with pytest.raises(firn.StoreError, match="locked by another writer") as e:
            store.open("shared-dir")
        assert e.value.kind == "locked"
        db.put(b"still", b"works")
        assert db.get(b"still") == b"works"


def test_an_unreachable_s3_server_raises_store_error(tmp_path):
    # Nothing listens on port 1 of the loopback address: the open fails fast.
    with pytest.raises(firn.StoreError) as e:
        firn.open(
            "s3://no-bucket/db",
            tmp_path / "local",
            s3_endpoint="http://127.0.0.1:1",
            s3_region="us-east-1",
            s3_access_key_id="testing",
            s3_secret_access_key="testing",
            max_retries=0,
            request_timeout=5,
            io_timeout=5,
        )
    assert e.value.kind == "store"
    assert "cannot access object store" in str(e.value)
