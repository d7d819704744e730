//! A writer killed with SIGKILL in the middle of publishing never leaves a torn manifest
//! version on `file://`: every version present decodes, and the next publish goes through.
//!
//! The test re-runs its own binary as the writer (selected by an environment variable), lets it
//! publish large manifest versions, and kills it at a random moment, several times over.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use firn_manifest::{ChunkId, ChunkMeta, ManifestEdit, ManifestError, ManifestStore, ObjectStore};

const CHILD_ENV: &str = "FIRN_MANIFEST_CRASH_TEST_DIR";
const TEST_NAME: &str = "killed_writer_never_leaves_torn_versions";
const ROUNDS: usize = 6;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

/// A chunk whose key bounds make every manifest version about 1 MiB, so that writing one
/// takes long enough to be interrupted.
fn big_chunk(epoch: u64, id: u64) -> ChunkMeta {
    ChunkMeta {
        id: ChunkId { epoch, id },
        size: 1,
        meta_offset: 0,
        meta_len: 1,
        entries: 1,
        tombstones: 0,
        min_key: vec![b'a'; 512 * 1024],
        max_key: vec![(id % 200) as u8; 512 * 1024],
        min_seq: id,
        max_seq: id,
    }
}

/// The writer: claims the database and publishes versions until killed (or a time limit).
async fn writer(dir: &Path) -> Result<(), ManifestError> {
    let ms = ManifestStore::new(ObjectStore::from_url(&url(dir))?);
    let latest = match ms.load_latest().await? {
        Some(m) => m,
        None => ms.create([0xC4; 16]).await?,
    };
    let mut current = ms.claim_writer(&latest).await?;
    let epoch = current.epoch;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut id = 0;
    while Instant::now() < deadline {
        id += 1;
        let edit = ManifestEdit {
            remove: current.l0.iter().map(|c| c.id).collect(),
            add_l0: vec![big_chunk(epoch, id)],
            ..ManifestEdit::default()
        };
        current = ms.publish(&current, &edit, epoch).await?;
    }
    Ok(())
}

fn spawn_writer(dir: &Path) -> Result<Child, Box<dyn std::error::Error>> {
    Ok(Command::new(std::env::current_exe()?)
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?)
}

/// Every version present must decode; they must be contiguous from 1.
async fn check_versions(ms: &ManifestStore) -> Result<Vec<u64>, Box<dyn std::error::Error>> {
    let versions = ms.list_versions().await?;
    for (i, &v) in versions.iter().enumerate() {
        assert_eq!(v, i as u64 + 1, "versions are contiguous: {versions:?}");
        let m = ms.load_version(v).await?.ok_or("listed version vanished")?;
        assert_eq!(m.version, v);
    }
    Ok(versions)
}

fn random_millis(max: u64) -> u64 {
    let nanos = firn_manifest::store::clock::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u64::from(nanos) % max
}

#[test]
fn killed_writer_never_leaves_torn_versions() -> TestResult {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        rt.block_on(writer(Path::new(&dir)))?;
        return Ok(());
    }

    let dir = tempfile::tempdir()?;
    let ms = ManifestStore::new(ObjectStore::from_url(&url(dir.path()))?);
    let mut published = 0;
    for round in 0..ROUNDS {
        let mut child = spawn_writer(dir.path())?;
        // Let the writer get going (claim plus at least one publish), then kill it mid-flight.
        let started = Instant::now();
        loop {
            let count = rt.block_on(ms.list_versions())?.len();
            if count >= published + 2 || started.elapsed() > Duration::from_secs(30) {
                break;
            }
            if let Some(status) = child.try_wait()? {
                return Err(format!("writer exited early in round {round}: {status}").into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(random_millis(40)));
        child.kill()?;
        child.wait()?;

        let versions = rt.block_on(check_versions(&ms))?;
        assert!(
            versions.len() > published,
            "round {round} published nothing"
        );
        published = versions.len();
        let leftovers = std::fs::read_dir(dir.path().join(".tmp"))?.count();
        eprintln!("round {round}: {published} versions, {leftovers} temporary files left");
    }

    // The database is still writable: a new writer claims it and publishes.
    rt.block_on(async {
        let latest = ms.load_latest().await?.ok_or("no manifest")?;
        let mine = ms.claim_writer(&latest).await?;
        let next = ms
            .publish(&mine, &ManifestEdit::default(), mine.epoch)
            .await?;
        assert_eq!(next.version, latest.version + 2);
        assert_eq!(next.epoch, ROUNDS as u64 + 1);
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}
