//! `firn copy SRC DEST`: the backup command, as scripts use it.

mod common;

use common::*;

#[test]
fn copy_makes_a_database_that_verifies_and_scans_the_same() {
    let (dir, db) = temp_db();
    firn(&db, &["put", "a", "1"]).ok();
    firn(&db, &["put", "b", "2", "--durability", "remote"]).ok();
    firn(&db, &["checkpoint", "create", "first"]).ok();
    firn(&db, &["put", "c", "3"]).ok();
    let dest = dir.path().join("copy");
    let dest_s = dest.to_str().unwrap();
    let run = firn(&db, &["copy", db.to_str().unwrap(), dest_s]).ok();
    assert!(
        run.stdout.contains("every checksum matches"),
        "{}",
        run.stdout
    );
    firn(&dest, &["verify"]).ok();
    assert_eq!(
        firn(&dest, &["scan"]).ok().stdout,
        firn(&db, &["scan"]).ok().stdout
    );
    // Into a database: refused (exit 3), nothing changed.
    let again = firn(&db, &["copy", db.to_str().unwrap(), dest_s]);
    assert_eq!(again.code, 3, "{}", again.stderr);
    assert!(
        again.stderr.contains("already holds a database"),
        "{}",
        again.stderr
    );
    assert_one_error_line(&again);
    // A checkpoint.
    let old = dir.path().join("old");
    firn(
        &db,
        &[
            "--checkpoint",
            "first",
            "copy",
            db.to_str().unwrap(),
            old.to_str().unwrap(),
        ],
    )
    .ok();
    assert_eq!(firn(&old, &["scan"]).ok().stdout, "a\t1\nb\t2\n");
    // A source that is not a database: exit 1.
    let missing = firn(&db, &["copy", "/nonexistent/firn-db", dest_s]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
}
