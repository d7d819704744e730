//! The `firn` command line as a library: argument grammar ([`cli`]), the
//! commands ([`commands`]), key/value escaping ([`escape`]), output and
//! exit codes ([`output`], [`error`]).
//!
//! [`main_with_args`] is the whole program; the binary only calls it.
//!
//! Exit codes: 0 ok, 1 not found, 2 corruption, 3 any other error. Errors
//! print one line on stderr (`error: ...`).

pub mod cli;
pub mod commands;
pub mod error;
pub mod escape;
pub mod output;
pub mod progress;
pub mod session;

use std::ffi::OsString;
use std::time::Duration;

use clap::error::ErrorKind as ClapErrorKind;
use clap::Parser;

use crate::cli::Cli;
use crate::error::{CliError, ExitKind};
use crate::escape::Codec;
use crate::output::{diag, Out};
use crate::session::Session;

/// Parses `args` (the program name first) and runs the command, writing to
/// the process's stdout and stderr. Returns the exit code.
pub fn main_with_args<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => run(cli, Out::stdout()),
        Err(e) => usage_error(&e),
    }
}

/// Sends the engine's `tracing` events to stderr: `RUST_LOG` when set,
/// else warnings and errors, and with `-v`/`-vv`/`-vvv` Firn's own events
/// at info/debug/trace (never the HTTP and signing layers underneath, whose
/// debug output could show request headers).
fn install_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let firn = match verbose {
        0 => None,
        1 => Some("info"),
        2 => Some("debug"),
        _ => Some("trace"),
    };
    let filter = match (std::env::var("RUST_LOG"), firn) {
        (Ok(spec), _) if !spec.trim().is_empty() => EnvFilter::new(spec),
        (_, Some(level)) => EnvFilter::new(format!(
            "warn,firn={level},firn_store={level},firn_manifest={level},firn_tools={level}"
        )),
        _ => EnvFilter::new("warn"),
    };
    // A second install (the tests run many commands in one process) keeps
    // the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

/// Reports a command-line error (or prints help/version). Usage errors
/// exit 3, like every error that is not "not found" or corruption.
fn usage_error(e: &clap::Error) -> u8 {
    match e.kind() {
        ClapErrorKind::DisplayHelp | ClapErrorKind::DisplayVersion => {
            let _ = e.print();
            0
        }
        ClapErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitKind::Other.code()
        }
        _ => {
            // clap's message is a paragraph, then usage; keep the paragraph
            // on one line.
            let text = e.to_string();
            let paragraph: Vec<&str> = text
                .lines()
                .map(str::trim)
                .skip_while(|l| l.is_empty())
                .take_while(|l| !l.is_empty())
                .collect();
            let first = paragraph.join(" ");
            let line = if first.starts_with("error:") {
                first
            } else {
                format!("error: {first}")
            };
            diag(&format!("{line} (see --help)"));
            ExitKind::Other.code()
        }
    }
}

/// The options of `--config FILE` (if given), overridden by the process's
/// `FIRN_*` variables. A bad file or variable is an error naming it.
fn load_config(file: Option<&std::path::Path>) -> Result<firn::config::Config, CliError> {
    let plain = |e: firn::Error| match e {
        firn::Error::InvalidArgument(message) => CliError::other(message),
        other => CliError::from(other),
    };
    let base = match file {
        Some(path) => firn::config::Config::from_toml_file(path).map_err(plain)?,
        None => firn::config::Config::default(),
    };
    Ok(base.merge(firn::config::Config::from_env().map_err(plain)?))
}

/// Runs a parsed command line with output to `out`. Returns the exit code.
pub fn run(cli: Cli, out: Out) -> u8 {
    install_logging(cli.verbose);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("firn-cli")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            diag(&format!("error: cannot start the async runtime: {e}"));
            return ExitKind::Other.code();
        }
    };
    let Cli {
        db,
        local,
        print_requests,
        checkpoint,
        hex,
        wal_ship_interval,
        wal_ship_bytes,
        config,
        verbose: _,
        command,
    } = cli;
    let config = match load_config(config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            if let Some(line) = e.line() {
                diag(&line);
            }
            return e.kind.code();
        }
    };
    let mut session = Session::new(db, local, Codec::from_hex_flag(hex), out)
        .with_config(config)
        .with_checkpoint(checkpoint)
        .with_shipping(wal_ship_interval, wal_ship_bytes);
    let result = rt.block_on(commands::run(command, &mut session));
    let flushed = session.out.flush();
    let result: Result<(), CliError> = result.and(flushed);
    let code = match &result {
        Ok(()) => 0,
        Err(e) => {
            if let Some(line) = e.line() {
                diag(&line);
            }
            e.kind.code()
        }
    };
    if print_requests {
        diag(&format!("requests: {}", session.requests()));
        if let Some(cache) = session.cache() {
            diag(&format!("cache: {cache}"));
        }
    }
    drop(session);
    rt.shutdown_timeout(Duration::from_secs(10));
    code
}
