//! One module per group of commands; [`run`] dispatches.

pub mod chunk_dump;
pub mod clone;
pub mod copy;
pub mod demo;
pub mod inspect;
pub mod kv;
pub mod load;
pub mod maintain;
pub mod verify;
pub mod wal_export;
pub mod watch;

use crate::cli::Command;
use crate::error::{CliError, CliResult};
use crate::session::Session;

/// Runs `command` in `session`.
pub async fn run(command: Command, session: &mut Session) -> CliResult {
    match command {
        Command::Get { keys, json } => {
            let keys = keys
                .iter()
                .map(|k| session.codec.parse_arg(k, "KEY"))
                .collect::<Result<Vec<_>, _>>()
                .map_err(CliError::other)?;
            if json {
                kv::get_json(session, &keys).await
            } else {
                kv::get(session, &keys).await
            }
        }
        Command::Put {
            key,
            value,
            ttl,
            durability,
        } => {
            let key = session
                .codec
                .parse_arg(&key, "KEY")
                .map_err(CliError::other)?;
            let value = session
                .codec
                .parse_arg(&value, "VALUE")
                .map_err(CliError::other)?;
            kv::put(session, key, value, ttl, durability.to_engine()).await
        }
        Command::Delete {
            key,
            range,
            durability,
        } => {
            let parse = |raw: &std::ffi::OsStr, what: &str| {
                session.codec.parse_arg(raw, what).map_err(CliError::other)
            };
            match (key, range.as_deref()) {
                (_, Some([start, end])) => {
                    let (start, end) = (parse(start, "START")?, parse(end, "END")?);
                    kv::delete_range(session, start, end, durability.to_engine()).await
                }
                (Some(key), _) => {
                    let key = parse(&key, "KEY")?;
                    kv::delete(session, key, durability.to_engine()).await
                }
                _ => Err(CliError::other(
                    "delete needs KEY, or --range START END".to_string(),
                )),
            }
        }
        Command::Scan(args) => {
            let range = kv::ScanRange::from_args(&args, session.codec)?;
            kv::scan(session, &range, args.limit, args.reverse, args.json).await
        }
        Command::Load(args) => load::load(session, &args).await,
        Command::Flush => inspect::flush(session).await,
        Command::Manifest { json } => inspect::manifest(session, json).await,
        Command::ChunkDump(args) => chunk_dump::chunk_dump(session, &args).await,
        Command::Verify => verify::verify(session).await,
        Command::Stats { json, prometheus } => inspect::stats(session, json, prometheus).await,
        Command::Status { json } => inspect::status(session, json).await,
        Command::Demo(args) => demo::demo(session, &args).await,
        Command::Compact => maintain::compact(session).await,
        Command::Gc { grace } => maintain::gc(session, grace).await,
        Command::Checkpoint(cmd) => maintain::checkpoint(session, &cmd).await,
        Command::WalDump {
            shipped,
            json,
            verify,
        } => wal_export::wal_dump(session, shipped, json, verify).await,
        Command::Copy { src, dest } => {
            let checkpoint = session.checkpoint_flag();
            copy::copy(session, &src, &dest, checkpoint.as_deref()).await
        }
        Command::Clone { src, dest, json } => {
            let checkpoint = session.checkpoint_flag();
            clone::clone(session, &src, &dest, checkpoint.as_deref(), json).await
        }
        Command::Restore {
            src,
            dest,
            to_seq,
            to_time,
            json,
        } => clone::restore(session, &src, &dest, to_seq, to_time.as_deref(), json).await,
        Command::Retention { set, json } => maintain::retention(session, set, json).await,
        Command::Drop {
            url,
            break_clones,
            json,
        } => clone::drop(session, &url, break_clones, json).await,
        Command::Watch {
            from_seq,
            prefix,
            json,
            poll_interval,
            until_seq,
        } => {
            let prefix = prefix
                .map(|p| session.codec.parse_arg(&p, "PREFIX"))
                .transpose()
                .map_err(CliError::other)?;
            let args = watch::WatchArgs {
                from_seq,
                prefix,
                json,
                poll_interval,
                until_seq,
            };
            watch::watch(session, &args).await
        }
        Command::WalExport { from_seq } => {
            let local = session.local_flag();
            wal_export::wal_export(session, local, from_seq).await
        }
    }
}

/// Closes `db` after a command body ran, keeping the body's error if both
/// failed (the close error is then the less useful one).
pub(crate) async fn finish(db: firn::Db, body: CliResult) -> CliResult {
    let closed = db.close().await.map_err(CliError::from);
    body.and(closed)
}
