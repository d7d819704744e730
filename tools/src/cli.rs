//! The command-line grammar (clap derive). Names, flags and output formats
//! are an interface: scripts depend on them.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const STATS_ABOUT: &str = "Print engine metrics and a manifest summary. Opens read-only.

--prometheus prints the metrics in the Prometheus text format, one family per
metric: object-store requests by kind, bytes, the estimated request cost in US
dollars (S3 Standard's list prices unless a config file sets others), cache
hits and misses per tier, WAL syncs, write stalls, compaction debt, and the
database's shape (chunks, bytes, sorted runs, manifest version). Counters are
this process's own, from the moment it opened the database: the requests the
command itself made. A service exports its live counters with
Db::prometheus_collector (see the README).";

const ABOUT: &str = "Inspect and change a Firn database: get/put/scan/load, flush, manifest, chunk-dump, verify, stats";

const LONG_ABOUT: &str = "\
Inspect and change a Firn database.

A database is named by --db (or FIRN_DB): a plain path P is the embedded
default (objects in file://P/objects, local state in P/local); a URL names
the object store, with --local DIR for the local state (WAL). Accepted URLs:
file:///abs/path (a folder), s3://bucket/prefix (S3, MinIO or any
S3-compatible store; endpoint, region and credentials from AWS_ENDPOINT_URL,
AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY),
azblob://container/prefix (Azure Blob Storage or Azurite; account, endpoint
and key from AZURE_STORAGE_CONNECTION_STRING) and memory://NAME (in this
process only).

Read commands (get, scan, manifest, chunk-dump, verify, stats) open the
database read-only and never change it. Write commands (put, delete, load,
flush) open it as the writer: this claims a new writer epoch and FENCES ANY
OTHER WRITER of the database (its next manifest publish fails and it stops
accepting writes).";

const AFTER_HELP: &str = "\
Keys and values:
  Output escapes tab, newline and backslash as \\t, \\n, \\\\ and every other
  byte outside printable ASCII as \\xNN (lowercase hex). Command-line KEY and
  VALUE arguments are taken literally (their bytes as given). With --hex,
  keys and values are given and shown as hex strings instead.

Exit codes:
  0 ok, 1 not found, 2 corruption (bad checksum, not a chunk), 3 any other
  error. Errors print one line on stderr starting with 'error: '.

--print-requests prints, after the command, one stderr line:
  requests: get=N put=N list=N delete=N head=N bytes_read=N bytes_written=N
and, when the command opened the database, a second one on the read path's
tiers (memory, local disk, object store):
  cache: memory_hits=N memory_misses=N disk_hits=N disk_misses=N block_gets=N
    block_bytes=N index_local=N index_gets=N index_bytes=N discarded=N";

/// The `firn` command line.
#[derive(Debug, Parser)]
#[command(
    name = "firn",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    arg_required_else_help = true
)]
pub struct Cli {
    /// The database: a folder path P (objects in P/objects, local state in
    /// P/local) or an object-store URL: file:///abs/path,
    /// s3://bucket/prefix (endpoint and credentials from AWS_*),
    /// azblob://container/prefix (account, endpoint and key from
    /// AZURE_STORAGE_CONNECTION_STRING), memory://NAME.
    #[arg(long, global = true, env = "FIRN_DB", value_name = "PATH|URL")]
    pub db: Option<String>,

    /// Local directory (WAL) of a URL database. Required to open a file://
    /// URL as writer; readers without it see only what is in the object store.
    #[arg(long, global = true, value_name = "DIR")]
    pub local: Option<PathBuf>,

    /// Read options from a TOML file (every key: firn.example.toml). The
    /// file is the base; FIRN_* variables (FIRN_MEMTABLE_SIZE,
    /// FIRN_S3_REGION, ...) override it, and flags override both. Its `url`
    /// and `local_dir` stand in for --db and --local (its `local_dir` is
    /// ignored when --db replaces its `url`).
    #[arg(long, global = true, env = "FIRN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// After the command, print the object-store request counts and bytes to
    /// stderr as one line: `requests: get=N put=N list=N delete=N head=N
    /// bytes_read=N bytes_written=N`.
    #[arg(long, global = true)]
    pub print_requests: bool,

    /// Read the database as of checkpoint NAME (read commands only).
    #[arg(long, global = true, value_name = "NAME")]
    pub checkpoint: Option<String>,

    /// Give and show keys and values as hex strings (for binary data).
    #[arg(long, global = true)]
    pub hex: bool,

    /// Ship the WAL to the bucket once the oldest unshipped write is this
    /// old (a writer's setting): e.g. 1s, 250ms, 2m. Default 1s.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub wal_ship_interval: Option<std::time::Duration>,

    /// Ship the WAL at once when this many bytes are pending (a writer's
    /// setting): e.g. 8MiB, 512KiB, 1048576. Default 8MiB.
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    pub wal_ship_bytes: Option<u64>,

    /// Log what the engine does to stderr: -v flushes, compactions, GC
    /// passes, opens and fencing; -vv also each WAL shipment and manifest
    /// detail; -vvv everything. `RUST_LOG` (e.g. `RUST_LOG=firn=debug`)
    /// overrides it. Without either only warnings and errors are logged;
    /// nothing is ever logged per read or write, and credentials never.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the value of KEY (escaped) and a newline; with several keys,
    /// one `key<TAB>value` line per key found (one multi_get). A missing key
    /// exits 1 with `not found` on stderr, after the others are printed.
    /// With --json, one JSON object per key found: {"key", "value", "seq",
    /// "write_time" (RFC 3339, null if not recorded), "expires" (RFC 3339,
    /// null if never)}. Opens read-only.
    Get {
        /// The keys (literal bytes, or hex with --hex). One key prints its
        /// value; several print `key<TAB>value` for each key found.
        #[arg(value_name = "KEY", required = true, num_args = 1..)]
        keys: Vec<OsString>,
        /// One JSON object per line with each value's seq and write time.
        #[arg(long)]
        json: bool,
    },

    /// Set KEY to VALUE. Opens the database as writer, which fences any
    /// other writer; the write is flushed to the object store on exit.
    Put {
        /// The key (literal bytes, or hex with --hex).
        #[arg(value_name = "KEY")]
        key: OsString,
        /// The value (literal bytes, or hex with --hex).
        #[arg(value_name = "VALUE")]
        value: OsString,
        /// The value expires this long after the write (30s, 10m, 2h, 7d);
        /// from then on reads find the key absent.
        #[arg(long, value_name = "DURATION", value_parser = parse_ttl_arg)]
        ttl: Option<std::time::Duration>,
        /// When the write counts as done (see `load --durability`).
        #[arg(long, value_enum, default_value_t = DurabilityArg::Buffered)]
        durability: DurabilityArg,
    },

    /// Delete KEY (deleting a missing key is not an error), or with
    /// `--range START END` every key from START (included) to END
    /// (excluded) in one write. Opens the database as writer, which fences
    /// any other writer.
    Delete {
        /// The key (literal bytes, or hex with --hex).
        #[arg(
            value_name = "KEY",
            required_unless_present = "range",
            conflicts_with = "range"
        )]
        key: Option<OsString>,
        /// Delete every key in START..END (START included, END excluded):
        /// one WAL record, however many keys the range holds.
        #[arg(long, num_args = 2, value_names = ["START", "END"])]
        range: Option<Vec<OsString>>,
        /// When the delete counts as done (see `load --durability`).
        #[arg(long, value_enum, default_value_t = DurabilityArg::Buffered)]
        durability: DurabilityArg,
    },

    /// Print entries in key order, one `key<TAB>value` line each (escaped,
    /// or hex with --hex). Opens read-only.
    Scan(ScanArgs),

    /// Apply `put<TAB>key<TAB>value`, `del<TAB>key` and
    /// `delrange<TAB>start<TAB>end` lines in atomic batches. Opens the database as writer, which fences any other writer.
    #[command(long_about = LOAD_ABOUT)]
    Load(LoadArgs),

    /// Flush memtables (including a replayed WAL) to chunks and print the
    /// new chunk ids, one per line. Opens the database as writer, which
    /// fences any other writer.
    Flush,

    /// Print the current manifest version: epoch, WAL watermark, L0 chunks
    /// and sorted runs. Opens read-only.
    #[command(long_about = MANIFEST_ABOUT)]
    Manifest {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },

    /// Decode one chunk file: properties, block list, entries with sequence
    /// number and kind. Needs no database.
    #[command(name = "chunk-dump", long_about = CHUNK_DUMP_ABOUT)]
    ChunkDump(ChunkDumpArgs),

    /// Read the manifest and every chunk it references (all blocks, index,
    /// filter, properties, footer) and check every checksum. Exits 2 naming
    /// the object and offset on corruption. Opens read-only.
    Verify,

    /// Print how far writes have got: visible_seq, local_synced_seq,
    /// bucket_durable_seq, the age of the oldest write not yet in the bucket,
    /// the flushed watermark and the shipped WAL. Opens read-only; with an
    /// empty --local it reports what the bucket alone holds.
    #[command(long_about = STATUS_ABOUT)]
    Status {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },

    /// Print engine metrics and a manifest summary. Opens read-only.
    #[command(long_about = STATS_ABOUT)]
    Stats {
        /// One JSON object (`metrics`, `manifest`) instead of text.
        #[arg(long, conflicts_with = "prometheus")]
        json: bool,
        /// The metrics in the Prometheus text format (for node_exporter's
        /// textfile collector, or a scrape by a script).
        #[arg(long)]
        prometheus: bool,
    },

    /// Flush, then merge every chunk into one sorted run, dropping
    /// overwritten versions and tombstones no reader needs; waits for it.
    /// Opens the database as writer, which fences any other writer.
    Compact,

    /// Run one garbage-collection pass: delete chunks and manifest versions
    /// that dropped out of the database more than --grace seconds ago, and
    /// orphaned uploads. Opens the database as writer (only the writer
    /// collects), which fences any other writer.
    Gc {
        /// Grace period in seconds: readers in other processes must refresh
        /// their manifest within it. 0 deletes everything unreferenced now.
        #[arg(long, value_name = "SECONDS", default_value_t = 600)]
        grace: u64,
    },

    /// Create, list or delete checkpoints: named pins of a manifest version
    /// that GC keeps, readable with --checkpoint NAME.
    #[command(subcommand)]
    Checkpoint(CheckpointCommand),

    /// The main job on the embedded default: write keys into the folder
    /// given by --db (its objects/ subfolder acts as the bucket), flush them
    /// into chunks, read every key back, and show where the chunks are with
    /// a chunk-dump of one. Opens the database as writer.
    Demo(DemoArgs),

    /// Decode the local WAL's segments, or with --shipped the shipped WAL
    /// objects in the bucket: records with epoch, seq range, byte offset and
    /// ops. Needs no writer; changes nothing.
    #[command(name = "wal-dump", long_about = WAL_DUMP_ABOUT)]
    WalDump {
        /// Dump the shipped WAL objects in the bucket (`wal/`) instead of
        /// the local directory's segments.
        #[arg(long)]
        shipped: bool,
        /// One JSON object per segment or object (JSON Lines).
        #[arg(long)]
        json: bool,
        /// Check every checksum and print one summary line, not the records.
        #[arg(long)]
        verify: bool,
    },

    /// Copy a database's current state (or, with --checkpoint NAME, a
    /// checkpoint) from SRC to DEST, checking every checksum: the backup
    /// command. SRC and DEST are folder paths or URLs (file://, s3://,
    /// azblob://);
    /// DEST must hold no database. The copy opens as an ordinary database.
    #[command(long_about = COPY_ABOUT)]
    Copy {
        /// The database to copy (a path or a URL); --db is not used.
        src: String,
        /// Where to put the copy (a path or a URL).
        dest: String,
    },

    /// Create at DEST a zero-copy clone of the database at SRC (its current
    /// state, or with --checkpoint NAME a checkpoint): a new database that
    /// reads SRC's chunks in place. DEST must be empty.
    #[command(long_about = CLONE_ABOUT)]
    Clone {
        /// The database to clone (a path or a URL); --db is not used.
        src: String,
        /// Where to create the clone (a path or a URL on the same store).
        dest: String,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },

    /// Delete the database at URL: every object under its prefix, and the
    /// pins it holds in the databases it was cloned from.
    #[command(long_about = DROP_ABOUT)]
    Drop {
        /// The database to delete (a path or a URL); --db is not used.
        url: String,
        /// Drop it even though clones of it exist (they lose the chunks
        /// they read from it and stop working).
        #[arg(long)]
        break_clones: bool,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },

    /// Create at DEST a database holding the state of SRC at a point in its
    /// history: through a sequence number, or as of a time (RFC 3339).
    #[command(long_about = RESTORE_ABOUT)]
    #[command(group(clap::ArgGroup::new("point").required(true).args(["to_seq", "to_time"])))]
    Restore {
        /// The database to restore from (a path or a URL); --db is not used.
        src: String,
        /// Where to create the restored database (a path or a URL on the
        /// same store).
        dest: String,
        /// Restore every write at or below sequence number N.
        #[arg(long, value_name = "N")]
        to_seq: Option<u64>,
        /// Restore every write committed at or before this time, e.g.
        /// 2026-12-06T09:30:00Z.
        #[arg(long, value_name = "RFC3339")]
        to_time: Option<String>,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },

    /// Print the database's retention window for point-in-time restore, or
    /// set it with --set DURATION (0 turns it off).
    #[command(long_about = RETENTION_ABOUT)]
    Retention {
        /// The new window, e.g. 7d, 12h, 0 (off). Opens as the writer.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        set: Option<std::time::Duration>,
        /// Print `{"history_retention_ms": N}`.
        #[arg(long)]
        json: bool,
    },

    /// Follow the database and print every change as its writer ships it,
    /// in sequence order. Opens read-only; runs until interrupted or past
    /// --until-seq.
    #[command(long_about = WATCH_ABOUT)]
    Watch {
        /// Start at sequence number N (default: after the newest write in
        /// the bucket now).
        #[arg(long, value_name = "N")]
        from_seq: Option<u64>,
        /// Only keys starting with P.
        #[arg(long, value_name = "P")]
        prefix: Option<OsString>,
        /// One JSON object per change (`seq`, `op`, `key`, `value`).
        #[arg(long)]
        json: bool,
        /// How often to look for new shipped WAL (e.g. `200ms`, `1s`).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
        poll_interval: std::time::Duration,
        /// Stop once every change through sequence number N is printed.
        #[arg(long, value_name = "N")]
        until_seq: Option<u64>,
    },

    /// Print the writes held in the local directory's WAL (--local DIR, or
    /// the local/ folder of --db PATH) as `load` lines, without opening the
    /// database. Re-applies a fenced writer's unflushed writes with
    /// `firn wal-export --local OLD | firn --db D load`.
    #[command(name = "wal-export")]
    WalExport {
        /// Only ops with sequence numbers from N on (e.g. the first
        /// sequence number a fencing error names).
        #[arg(long, value_name = "N", default_value_t = 0)]
        from_seq: u64,
    },
}

/// `checkpoint` subcommands.
#[derive(Debug, Subcommand)]
pub enum CheckpointCommand {
    /// Flush, then pin the current manifest version as NAME. Opens as writer.
    Create {
        /// Letters, digits, '.', '_' or '-'.
        name: String,
    },
    /// List checkpoints: `name<TAB>manifest_version=N<TAB>created_at_ms=T`.
    /// Opens read-only.
    List,
    /// Delete checkpoint NAME; what only it kept becomes garbage after the
    /// grace period. Opens as writer.
    Delete {
        /// The checkpoint's name.
        name: String,
    },
}

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many keys to write.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub keys: u64,
    /// Bytes per value.
    #[arg(long, value_name = "BYTES", default_value_t = 100)]
    pub value_size: usize,
    /// Memtable size in MiB (a full memtable becomes one chunk).
    #[arg(long, value_name = "MIB", default_value_t = 8)]
    pub memtable_mib: usize,
}

const LOAD_ABOUT: &str = "\
Apply puts and deletes from FILE (or standard input for '-' or no FILE).

Each line is `put<TAB>key<TAB>value`, `put<TAB>key<TAB>value<TAB>ttl=DURATION`
(the value expires DURATION after the write: 30s, 10m, 2h, 7d),
`del<TAB>key` or `delrange<TAB>start<TAB>end` (every key from start,
included, to end, excluded, in one op), with keys and values in
the escaped form scan prints (\\t \\n \\r \\\\ \\xNN; other bytes stand for
themselves), or hex with --hex. Lines end with LF; a raw carriage return at
the end of a line is an error (write \\r; convert CRLF files). Empty lines are
skipped. Every --batch lines are written as one atomic batch. A malformed line stops the load with an error
naming the line (exit 3); nothing of its batch is written, earlier batches
stay. The load ends with a flush to the object store.

With --sorted the lines must be in strictly increasing key order (one line
per key); they are bulk-ingested: written straight into chunks, uploaded, and
published with one manifest edit at one new sequence number above every
earlier write, so the whole file appears at once. A malformed or out-of-order
line stops it with an error naming the line (exit 3) and nothing of the file
is written (lines with ttl= are refused there). A summary goes to stderr:
entries, seq, chunks, bytes, placement.

Opens the database as writer, which fences any other writer.";

const MANIFEST_ABOUT: &str = "\
Print the current manifest version. Opens read-only.

--json prints one object with version, epoch, wal_watermark, db_id,
next_chunk_id, next_run_id, published_at_ms, runs, and chunks: each chunk has
id (\"EPOCH-N\"), object, run (the sorted run's integer id, or the string \"L0\"
for level-0 chunks), size, meta_offset, meta_len, entries, tombstones, min_key,
max_key (escaped as scan prints them, or hex with --hex), min_seq, max_seq.
Chunks are listed L0 first (newest first), then the runs (newest first).
writer_clean says whether the current writer closed cleanly; fenced lists the
local directories fenced while holding writes that never reached the bucket:
writer_id, epoch, wal_watermark (exactly that directory's writes at or below it
are in the bucket), fenced_by_epoch, fenced_at_ms. wal_objects_from is the
first shipped WAL object id an open must read (every lower one holds only
writes at or below wal_watermark, or is a fence).";

const CHUNK_DUMP_ABOUT: &str = "\
Decode one chunk file: properties, block list, entries. Needs no database.

FILE is a local path (for example P/objects/chunks/<epoch>-<id>.chunk); a
file:// URL is read as that local file; other URLs name an object in a store
(the store URL is what precedes /chunks/). A file that is not a chunk, or is
truncated or damaged, exits 2 with one error line.

--json prints one object: file, size, meta_offset, footer, properties
(format_version, entries, tombstones, blocks, min_key, max_key, min_seq,
max_seq, raw_key_bytes, raw_value_bytes, data_bytes, index_bytes,
filter_bytes), and with --blocks `blocks` (index, offset, len), with --entries
`entries` (key, seq, kind \"put\" or \"delete\", value; a tombstone's value is
the empty string), with --verify `verified`. Keys and values are escaped as
scan prints them, or hex with --hex.";

/// Arguments of `scan`.
#[derive(Debug, Args)]
#[command(long_about = "\
Print entries in key order (with --reverse, in reverse key order). Opens
read-only.

Each entry is one `key<TAB>value` line, escaped (or hex with --hex). With
--json each entry is instead one JSON object per line (JSON Lines):
{\"key\":\"...\",\"value\":\"...\"}, the strings holding the same escaped text.
--prefix, --from (inclusive) and --to (exclusive) combine: all of them must
hold. --reverse visits the same range backwards, from its last key down to
--from; --limit then counts from the last key.")]
pub struct ScanArgs {
    /// Only keys starting with P.
    #[arg(long, value_name = "P")]
    pub prefix: Option<OsString>,
    /// Start at key A (inclusive).
    #[arg(long, value_name = "A")]
    pub from: Option<OsString>,
    /// Stop before key B (exclusive).
    #[arg(long, value_name = "B")]
    pub to: Option<OsString>,
    /// Print at most N entries.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Visit the range backwards, in descending key order.
    #[arg(long)]
    pub reverse: bool,
    /// One JSON object per line: {"key":"...","value":"..."}.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Input file; '-' or nothing reads standard input.
    #[arg(value_name = "FILE|-")]
    pub input: Option<PathBuf>,
    /// Sync the WAL (fdatasync) before each batch is acknowledged: the same
    /// as `--durability sync`.
    #[arg(long, conflicts_with = "durability")]
    pub sync: bool,
    /// When a batch counts as done: `buffered` (in the local WAL), `sync`
    /// (in the local WAL, fdatasynced) or `remote` (in a shipped WAL object
    /// in the bucket: survives losing this machine).
    #[arg(long, value_enum)]
    pub durability: Option<DurabilityArg>,
    /// Lines per atomic batch.
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub batch: u64,
    /// After each batch commits (with the chosen durability), print its keys
    /// one per line (escaped, or hex with --hex) and flush stdout.
    #[arg(long)]
    pub echo_acks: bool,
    /// Bulk ingest: the input is in strictly increasing key order and goes
    /// straight into chunks (no WAL, no memtable), published at once: all of
    /// it or, on any error, none. Much faster for big sorted files.
    #[arg(long, conflicts_with_all = ["sync", "durability", "batch", "echo_acks"])]
    pub sorted: bool,
}

const WAL_DUMP_ABOUT: &str = "\
Decode a WAL: the local directory's segments (--local DIR, or the local/
folder of --db PATH), or with --shipped the shipped WAL objects in the
bucket (wal/<id>.wal). Needs no writer; changes nothing.

Text: per segment or object one line `segment|object NAME epoch E: N records`
(a shipped object without records is a fence), then per record
`  offset O seq A..=B ops N` and its ops as `load` lines (put/del, escaped,
or hex with --hex), indented by four spaces. --json prints one object per
segment or object (JSON Lines): name, shipped, epoch, records (offset,
first_seq, last_seq, ops: [{op: \"put\"|\"del\", key, value}]). --verify
prints only `ok: N segments|objects, M records, every checksum matches`.
Damage exits 2 naming the file or object and the offset.";

/// `--durability` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DurabilityArg {
    /// In the local WAL (the OS); on disk within 100 ms.
    Buffered,
    /// In the local WAL, fdatasynced.
    Sync,
    /// In a shipped WAL object in the bucket.
    Remote,
    /// In the writer's WAL buffer (a crash may lose the newest writes).
    Deferred,
}

impl DurabilityArg {
    /// The engine's durability.
    pub fn to_engine(self) -> firn::Durability {
        match self {
            DurabilityArg::Buffered => firn::Durability::Buffered,
            DurabilityArg::Sync => firn::Durability::Sync,
            DurabilityArg::Remote => firn::Durability::Remote,
            DurabilityArg::Deferred => firn::Durability::Deferred,
        }
    }
}

const STATUS_ABOUT: &str = "\
Print how far writes have got. Opens read-only (the local directory's WAL
is read, nothing is written).

Text: one `name: value` line each. --json prints one object with visible_seq
(the newest write a read sees), local_synced_seq (the newest write in the
local WAL read), bucket_durable_seq (every write through it is in the bucket:
flushed into chunks, or in the shipped WAL), oldest_unshipped_ms (null here:
only the writer process knows it), wal_watermark (the newest write in
chunks), shipped_wal_objects (objects under wal/, fences included) and
wal_objects_read (shipped objects this open read), applied_seq (every write
through it is visible to this read-only handle, as to a follower) and lag_ms
(how long ago this handle last found the bucket holding nothing newer). With
an empty --local it
reports what the bucket alone holds: what a writer taking over from another
machine would see.";

const COPY_ABOUT: &str = "\
Copy a database from SRC to DEST (the backup command): the chunks of its
newest manifest version, the shipped WAL holding writes above the flushed
watermark, and the manifest version itself, written last. With --checkpoint
NAME, the checkpoint's manifest version and its chunks. Every chunk is read
whole and every checksum checked (as `verify` does) before it is written;
damage stops the copy with exit 2, naming the object and offset.

SRC and DEST are folder paths (the embedded default) or URLs (file://,
s3:// with the AWS_* variables, azblob:// with
AZURE_STORAGE_CONNECTION_STRING); DEST must hold no database. A copy that
stopped half-way can be run again: objects already in DEST with the same
bytes are kept. The copy keeps the database id and opens as an ordinary
database: its first writer claims the next epoch. A progress bar shows on a
terminal; the last line reports what was copied.";

const CLONE_ABOUT: &str = "\
Create at DEST a zero-copy clone of the database at SRC: a new database
(new id) whose first manifest references SRC's chunks where they are. No
chunk is copied: the clone's creation writes a few KiB (its manifest, its
identity, a pin in SRC) plus SRC's shipped WAL not yet in chunks. From then
on the two diverge: each writes, compacts and collects its own chunks.

The clone pins what it reads in SRC with the checkpoint clone-<clone id>
(and in each database SRC was itself cloned from), so SRC's garbage
collection keeps those chunks. The clone's own collector deletes a pin once
its compactions have rewritten every chunk it read there; `firn drop`
deletes them all. With --checkpoint NAME the clone starts from the
checkpoint instead of the current state.

SRC and DEST are folder paths or URLs on the same object store (another
prefix or bucket; the clone opens SRC with its own settings); DEST must be
empty and must not lie inside SRC. The last line reports the clone's id,
what it references and the bytes written (--json: one object with db_id,
source_version, chunks, chunk_bytes, wal_objects, bytes_written, pin,
sources).";

const DROP_ABOUT: &str = "\
Delete the database at URL: claim it (so a writer still running is fenced
and stops), release the pins it holds in the databases it was cloned from
(their next collection frees what only it kept), then delete every object
under its prefix, the manifest versions and the identity object last. An
interrupted drop is run again. A database that has clones (checkpoints
named clone-...) is not dropped: drop the clones first, or pass
--break-clones. Local directories are not touched. The last line reports
what was deleted (--json: objects_deleted, bytes_deleted, pins_released).";

const RESTORE_ABOUT: &str = "\
Create at DEST a new database holding exactly the writes of SRC through a
point of its history: --to-seq N (every write at or below N; a batch that
straddles N is left out whole) or --to-time T (every write committed at or
before T, an RFC 3339 time such as 2026-12-06T09:30:00Z; exact to the record:
the bucket keeps each write's commit time).

The restored database is a zero-copy clone of the newest manifest version of
SRC below the point (its chunks are read in place and pinned, as `clone`
does) plus the shipped WAL records from there to the point: what a restore
reads and writes grows with the WAL replayed, not with the database. It opens
as an ordinary database. Points are kept for the retention window set with
`firn retention --set` (without one, for the GC grace period); a point outside
it fails with exit 3 and changes nothing. The last line reports the restored
seq and its commit time (--json: db_id, seq, committed_at_ms, base_version,
base_watermark, wal_objects_read, wal_bytes_read, batches_replayed, chunks,
bytes_written).";

const RETENTION_ABOUT: &str = "\
Print the database's retention window for point-in-time restore, or set it
with --set DURATION (ms, s, m, h or d; 0 turns it off). The window is a
database setting recorded in the manifest, so every later writer honours it:
garbage collection keeps every manifest version superseded within it, the
chunks those reference, and the shipped WAL flushed within it, so `firn
restore` can rebuild any point inside. The bucket then holds about a
window's worth of rewritten chunks and WAL besides the live data.";

const WATCH_ABOUT: &str = "\
Follow the database and print every change as its writer ships it, in
sequence order, one line per op: seq<TAB>put<TAB>key<TAB>value,
seq<TAB>del<TAB>key or seq<TAB>delrange<TAB>start<TAB>end (escaped as `scan`
escapes; --hex for hex), or with --json one object per line with seq, op
(put, del or delrange), key and value (end for a delrange). A delrange shows
under --prefix when its range reaches keys with the prefix. Standard
output is flushed after each batch. Opens read-only and reads the shipped WAL
in the bucket (one GET per --poll-interval when nothing is new).

--from-seq N starts at sequence number N; the default starts after the newest
write in the bucket now. Writes that were flushed into chunks stay in the
shipped WAL only until GC collects them (the writer's wal_retention keeps them
longer): a start before that fails, naming the writes that are gone. Runs
until interrupted, or until every change through --until-seq N is printed.";

/// Parses a duration: a number with `ms`, `s`, `m` or `h` (e.g. `250ms`, `1s`).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: write e.g. 1s, 250ms, 2m"))?;
    let seconds = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        "" if n == 0.0 => 0.0,
        _ => {
            return Err(format!(
                "{text:?}: the unit must be ms, s, m, h or d (e.g. 1s)"
            ))
        }
    };
    std::time::Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("{text:?} is not a valid duration"))
}

/// Parses a byte size: a number with an optional `B`, `KiB`, `MiB` or `GiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size: write e.g. 8MiB, 512KiB, 1048576"))?;
    let factor: u64 = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(format!("{text:?}: the unit must be B, KiB, MiB or GiB")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Arguments of `chunk-dump`.
#[derive(Debug, Args)]
pub struct ChunkDumpArgs {
    /// The chunk: a local path, a file:// URL, or an object URL.
    #[arg(value_name = "FILE|URL")]
    pub target: OsString,
    /// Print every entry (key, seq, kind, value).
    #[arg(long)]
    pub entries: bool,
    /// Print the data block list (offset, len).
    #[arg(long)]
    pub blocks: bool,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Check every block checksum, the entry order and the properties first.
    #[arg(long)]
    pub verify: bool,
}

/// `--ttl DURATION`.
fn parse_ttl_arg(text: &str) -> Result<std::time::Duration, String> {
    crate::commands::load::parse_ttl(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = Cli::try_parse_from([
            "firn",
            "get",
            "--hex",
            "6b",
            "--db",
            "/x",
            "--print-requests",
        ])
        .expect("parses");
        assert!(cli.hex && cli.print_requests);
        assert_eq!(cli.db.as_deref(), Some("/x"));
        assert!(matches!(cli.command, Command::Get { .. }));
        assert!(Cli::try_parse_from(["firn", "load", "--batch", "0"]).is_err());
    }
}
