//! Progress bars for long commands (`load`, `compact`, `verify`, `copy`, `restore`, `demo`).
//!
//! Drawn on stderr with indicatif — a bar with rate and ETA when the total is known, a
//! spinner with the count, rate and elapsed time otherwise — and only when stderr is a
//! terminal: piped or redirected, nothing is drawn, so scripts and tests see the same output
//! with or without a terminal. A bar is cleared when its work ends; the command's result
//! lines go to stdout as before.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// What a bar counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Bytes, shown as KiB/MiB/GiB with a byte rate.
    Bytes,
    /// Items of the given name (`keys`, `chunks`), with a per-second rate.
    Items(&'static str),
}

/// One progress bar or spinner on stderr (hidden when stderr is not a terminal).
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar of `total` units (a spinner while `total` is `None`) labelled `message`.
    pub fn new(message: &str, total: Option<u64>, unit: Unit) -> Progress {
        let shown = std::io::stderr().is_terminal();
        let bar = match total {
            Some(total) => ProgressBar::with_draw_target(Some(total), target(shown)),
            None => ProgressBar::with_draw_target(None, target(shown)),
        };
        let template = match (total.is_some(), unit) {
            (true, Unit::Bytes) => {
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left".to_string()
            }
            (true, Unit::Items(name)) => {
                format!("{{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {name} {{per_sec}}, {{eta}} left")
            }
            (false, Unit::Bytes) => {
                "{spinner} {msg} {bytes} {bytes_per_sec}, {elapsed}".to_string()
            }
            (false, Unit::Items(name)) => {
                format!("{{spinner}} {{msg}} {{human_pos}} {name} {{per_sec}}, {{elapsed}}")
            }
        };
        // The templates above are constants of this file: a parse error is a bug here, and
        // the default style is a fine fallback for it.
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message.to_string());
        if shown && total.is_none() {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        Progress { bar }
    }

    /// A spinner for work whose progress is not observable (one engine call), with the
    /// elapsed time.
    pub fn working(message: &str) -> Progress {
        let shown = std::io::stderr().is_terminal();
        let bar = ProgressBar::with_draw_target(None, target(shown));
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(message.to_string());
        if shown {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        Progress { bar }
    }

    /// Sets the position (units done).
    pub fn set(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// Adds `n` units done.
    pub fn add(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Sets the total (turns a spinner into a bar's count).
    pub fn set_total(&self, total: u64) {
        self.bar.set_length(total);
    }

    /// Replaces the label.
    pub fn say(&self, message: &str) {
        self.bar.set_message(message.to_string());
    }
}

impl Drop for Progress {
    /// Clears the bar, however the command ends (its result or error follows).
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

fn target(shown: bool) -> ProgressDrawTarget {
    if shown {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}
