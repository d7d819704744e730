//! Human units: sizes (`64MiB`, `512KiB`, `1.5GiB`, `65536`) and durations
//! (`250ms`, `10s`, `10m`, `2h`, `7d`, `1h 30m`), and the nearest-name
//! suggestion behind "did you mean ...?".

use std::time::Duration;

/// The units a size may carry (case-insensitive): binary (powers of 1024)
/// and decimal (powers of 1000), as in `64MiB` and `64MB`.
const SIZE_UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
];

/// Parses a byte size: an integer with an optional unit — `B`; `KiB`,
/// `MiB`, `GiB`, `TiB` (powers of 1024); `KB`, `MB`, `GB`, `TB` (powers of
/// 1000) — in any case, with optional spaces and `_` digit separators. A
/// fraction (`1.5GiB`) is accepted when it comes to a whole number of
/// bytes. Bare `K`, `M`, `G` are refused: they mean 1000 to some readers
/// and 1024 to others.
///
/// ```
/// assert_eq!(firn::config::parse_size("64MiB"), Ok(64 << 20));
/// assert_eq!(firn::config::parse_size("1.5 GiB"), Ok(3 << 29));
/// assert_eq!(firn::config::parse_size("8MB"), Ok(8_000_000));
/// assert!(firn::config::parse_size("64M").is_err());
/// ```
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err("negative".to_string());
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number = number.replace('_', "");
    let unit = unit.trim().to_ascii_lowercase();
    let Some(&(_, factor)) = SIZE_UNITS.iter().find(|(u, _)| *u == unit) else {
        let hint = match unit.as_str() {
            "k" | "m" | "g" | "t" => format!(
                ": write {n}{u}iB (powers of 1024) or {n}{u}B (powers of 1000)",
                n = number,
                u = unit.to_ascii_uppercase()
            ),
            _ => String::new(),
        };
        return Err(format!("unknown size unit {:?}{hint}", unit));
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((&number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err("no number".to_string());
    }
    if fraction.contains('.') || fraction.len() > 12 {
        return Err("not a number".to_string());
    }
    let parse = |digits: &str| -> Result<u128, String> {
        if digits.is_empty() {
            Ok(0)
        } else {
            digits.parse::<u128>().map_err(|_| "too large".to_string())
        }
    };
    let factor = u128::from(factor);
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction_bytes = parse(fraction)? * factor;
    if fraction_bytes % scale != 0 {
        return Err("not a whole number of bytes".to_string());
    }
    let bytes = parse(whole)?
        .checked_mul(factor)
        .and_then(|b| b.checked_add(fraction_bytes / scale))
        .ok_or_else(|| "too large".to_string())?;
    u64::try_from(bytes).map_err(|_| "too large".to_string())
}

/// Parses a duration with [`humantime`]: a number and a unit, several
/// summed (`250ms`, `10s`, `10m`, `2h`, `7d`, `1h 30m`; also `min`, `sec`,
/// `hours`, `days`, ...). A bare `0` is zero; any other bare number is
/// refused, since it could mean seconds or milliseconds.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(firn::config::parse_duration("10m"), Ok(Duration::from_secs(600)));
/// assert_eq!(firn::config::parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
/// assert!(firn::config::parse_duration("30").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) && t.trim_matches('0').is_empty() {
        return Ok(Duration::ZERO);
    }
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "a duration needs a unit: write e.g. \"{t}s\" or \"{t}ms\""
        ));
    }
    humantime::parse_duration(t).map_err(|e| e.to_string())
}

/// Levenshtein distance between two short ASCII names.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(previous + 1).min(row[j] + 1);
        }
    }
    row[b.len()]
}

/// The candidate nearest to `typed`, if it is near enough to be the name
/// meant: within a third of its length in edits (at least 2), or the one
/// containing it or contained in it.
pub(crate) fn nearest<'a>(
    typed: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let typed = typed.to_ascii_lowercase();
    let limit = (typed.len() / 3).max(2);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let mut d = edit_distance(&typed, candidate);
        if d > limit
            && typed.len() >= 4
            && (candidate.contains(&typed) || typed.contains(candidate))
        {
            d = limit;
        }
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (text, bytes) in [
            ("0", 0),
            ("4096", 4096),
            ("64MiB", 64 << 20),
            ("64mib", 64 << 20),
            ("64 MiB", 64 << 20),
            ("512KiB", 512 << 10),
            ("1GiB", 1 << 30),
            ("2TiB", 2 << 40),
            ("10B", 10),
            ("8MB", 8_000_000),
            ("1kb", 1000),
            ("3GB", 3_000_000_000),
            ("1.5GiB", 3 << 29),
            ("0.5KiB", 512),
            ("1_048_576", 1 << 20),
            (" 7 ", 7),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text:?}");
        }
        for (text, problem) in [
            ("", "no number"),
            ("MiB", "no number"),
            ("64M", "64MiB"),
            ("64 k", "64KiB"),
            ("64XB", "unknown size unit \"xb\""),
            ("-1", "negative"),
            ("1.5B", "whole number"),
            ("1.2.3KiB", "not a number"),
            ("99999999999999999999999", "too large"),
            ("16777216TiB", "too large"),
        ] {
            let err = parse_size(text).expect_err(text);
            assert!(err.contains(problem), "{text:?}: {err}");
        }
    }

    #[test]
    fn durations() {
        for (text, d) in [
            ("0", Duration::ZERO),
            ("000", Duration::ZERO),
            ("250ms", Duration::from_millis(250)),
            ("10s", Duration::from_secs(10)),
            ("10m", Duration::from_secs(600)),
            ("2h", Duration::from_secs(7200)),
            ("7d", Duration::from_secs(7 * 86400)),
            ("1h 30m", Duration::from_secs(5400)),
            ("5min", Duration::from_secs(300)),
        ] {
            assert_eq!(parse_duration(text), Ok(d), "{text:?}");
        }
        let err = parse_duration("30").unwrap_err();
        assert!(err.contains("\"30s\""), "{err}");
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        let keys = ["memtable_size", "max_retries", "region", "endpoint"];
        assert_eq!(nearest("memtable_siz", keys), Some("memtable_size"));
        assert_eq!(nearest("MEMTABLE_SIZE", keys), Some("memtable_size"));
        assert_eq!(nearest("regoin", keys), Some("region"));
        assert_eq!(nearest("memtable", keys), Some("memtable_size"));
        assert_eq!(nearest("s3_endpoint", keys), Some("endpoint"));
        assert_eq!(nearest("zzz", keys), None);
        assert_eq!(nearest("compression", keys), None);
    }
}
