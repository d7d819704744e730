//! The main job (`demo`) and re-applying a WAL with `wal-export | load`.

mod common;

use common::{chunk_files, firn, firn_in, temp_db};

#[test]
fn demo_writes_flushes_reads_back_and_dumps_a_chunk() {
    let (_dir, db) = temp_db();
    let run = firn(&db, &["demo", "--keys", "20000", "--memtable-mib", "1"]).ok();
    assert!(run.stdout.contains("wrote 20000 keys"), "{}", run.stdout);
    assert!(
        run.stdout.contains("read back all 20000 keys"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("verify: ok"), "{}", run.stdout);
    let chunks = chunk_files(&db);
    assert!(
        chunks.len() >= 2,
        "a 1 MiB memtable makes several chunks: {chunks:?}"
    );
    for c in &chunks {
        let name = c.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            run.stdout.contains(&name),
            "chunk {name} not listed:\n{}",
            run.stdout
        );
    }
    // The data is really there for other commands.
    let got = firn(&db, &["get", "user:0000019999"]).ok();
    assert!(
        got.stdout.starts_with("profile of user 19999: "),
        "{}",
        got.stdout
    );
}

#[test]
fn wal_export_prints_load_lines_that_reapply() {
    // Writes that are only in the WAL: the database is closed without a flush.
    let (_dir, src) = temp_db();
    std::fs::create_dir_all(&src).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut opts = firn::Options::embedded(&src).unwrap();
        opts.flush_on_close = false;
        let db = firn::Db::open(opts).await.unwrap();
        let mut b = firn::WriteBatch::new();
        b.put("a", "1").put("b", "two\nlines");
        db.write(b).await.unwrap();
        db.delete("a").await.unwrap();
        db.close().await.unwrap();
    });
    let export = firn(&src, &["wal-export"]).ok();
    assert_eq!(
        export.stdout, "put\ta\t1\nput\tb\ttwo\\nlines\ndel\ta\n",
        "{}",
        export.stderr
    );
    assert!(
        export.stderr.contains("exported 3 ops in 2 batches"),
        "{}",
        export.stderr
    );
    let from = firn(&src, &["wal-export", "--from-seq", "3"]).ok();
    assert_eq!(from.stdout, "del\ta\n");

    // Re-apply into another database.
    let (_dir2, dst) = temp_db();
    firn_in(&dst, &["load"], &export.stdout).ok();
    assert_eq!(firn(&dst, &["get", "b"]).ok().stdout, "two\\nlines\n");
    assert_eq!(firn(&dst, &["get", "a"]).code, 1);

    let nowhere = src.join("nowhere");
    let missing = firn(&dst, &["--local", nowhere.to_str().unwrap(), "wal-export"]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
}
