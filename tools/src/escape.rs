//! How keys and values are written on the command line and in output.
//!
//! **Escaped text** (the default) is what `scan`, `get`, `load` and every
//! JSON document use for binary-safe byte strings:
//!
//! | byte                                  | written as            |
//! |---------------------------------------|-----------------------|
//! | tab (0x09)                            | `\t`                  |
//! | newline (0x0a)                        | `\n`                  |
//! | backslash (0x5c)                      | `\\`                  |
//! | other printable ASCII (0x20..=0x7e)   | itself                |
//! | anything else (controls, 0x7f..=0xff) | `\xNN`, lowercase hex |
//!
//! Escaped text is therefore printable ASCII without tabs or newlines, so it
//! fits one field of a tab-separated line. In JSON output, keys and values
//! are JSON strings holding exactly this escaped text (JSON then adds its own
//! escaping of `"` and `\`, as any JSON encoder does).
//!
//! **Hex** (`--hex`) writes every byte as two lowercase hex digits and reads
//! hex in either case.

use std::ffi::OsStr;

/// How byte strings are shown in output and read from input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Codec {
    /// Escaped text (see the module docs). Command-line arguments are taken
    /// literally; fields of `load` input are unescaped.
    #[default]
    Text,
    /// Lowercase hex for output; hex (either case) for all input.
    Hex,
}

impl Codec {
    /// The codec for the `--hex` flag.
    pub fn from_hex_flag(hex: bool) -> Codec {
        if hex {
            Codec::Hex
        } else {
            Codec::Text
        }
    }

    /// Shows `bytes` in this codec's output form.
    pub fn show(self, bytes: &[u8]) -> String {
        match self {
            Codec::Text => escape(bytes),
            Codec::Hex => hex_encode(bytes),
        }
    }

    /// Reads a command-line argument: its bytes as given (text), or hex.
    pub fn parse_arg(self, arg: &OsStr, what: &str) -> Result<Vec<u8>, String> {
        match self {
            Codec::Text => Ok(os_bytes(arg)),
            Codec::Hex => hex_decode(&os_bytes(arg)).map_err(|e| format!("{what}: {e}")),
        }
    }

    /// Reads one field of `load` input: escaped text, or hex.
    pub fn parse_field(self, field: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Codec::Text => unescape(field),
            Codec::Hex => hex_decode(field),
        }
    }
}

/// The bytes of a command-line argument (any bytes on Unix; the UTF-8 form
/// elsewhere, with invalid sequences replaced).
pub fn os_bytes(arg: &OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        arg.as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        arg.to_string_lossy().into_owned().into_bytes()
    }
}

/// Escapes `bytes` into printable ASCII (see the module docs).
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                out.push_str("\\x");
                out.push(hex_digit(b >> 4));
                out.push(hex_digit(b & 0x0f));
            }
        }
    }
    out
}

/// The inverse of [`escape`]. Accepts `\t`, `\n`, `\r`, `\\` and `\xNN`
/// (either case); every other byte stands for itself. A backslash followed
/// by anything else is an error naming the position.
pub fn unescape(text: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let decoded = match text.get(i + 1) {
            Some(b't') => Some((b'\t', 2)),
            Some(b'n') => Some((b'\n', 2)),
            Some(b'r') => Some((b'\r', 2)),
            Some(b'\\') => Some((b'\\', 2)),
            Some(b'x') => match (text.get(i + 2), text.get(i + 3)) {
                (Some(&h), Some(&l)) => match (hex_value(h), hex_value(l)) {
                    (Some(h), Some(l)) => Some(((h << 4) | l, 4)),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        let Some((byte, len)) = decoded else {
            let shown: Vec<u8> = text.iter().skip(i).take(4).copied().collect();
            return Err(format!(
                "invalid escape {} at byte {} (accepted: \\t \\n \\r \\\\ \\xNN)",
                quote(&shown),
                i
            ));
        };
        out.push(byte);
        i += len;
    }
    Ok(out)
}

/// `bytes` as lowercase hex.
pub fn hex_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(hex_digit(b >> 4));
        out.push(hex_digit(b & 0x0f));
    }
    out
}

/// Decodes hex (either case, even length, nothing else).
pub fn hex_decode(text: &[u8]) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!(
            "invalid hex {}: odd number of digits ({})",
            quote(text),
            text.len()
        ));
    }
    text.chunks_exact(2)
        .enumerate()
        .map(|(i, pair)| match pair {
            [h, l] => match (hex_value(*h), hex_value(*l)) {
                (Some(h), Some(l)) => Ok((h << 4) | l),
                _ => Err(format!(
                    "invalid hex {}: bad digit at position {}",
                    quote(text),
                    i * 2
                )),
            },
            _ => Err(format!("invalid hex {}", quote(text))),
        })
        .collect()
}

/// A short, escaped, quoted rendering of `bytes` for error messages.
pub fn quote(bytes: &[u8]) -> String {
    const MAX: usize = 60;
    let shown = bytes.get(..MAX).unwrap_or(bytes);
    let more = if bytes.len() > MAX { "..." } else { "" };
    format!("\"{}{more}\"", escape(shown).replace('"', "\\\""))
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_documented_bytes() {
        assert_eq!(escape(b"plain text ~!"), "plain text ~!");
        assert_eq!(escape(b"a\tb\nc\\d"), "a\\tb\\nc\\\\d");
        assert_eq!(
            escape(&[0x01, 0x7f, 0xff, b'\r', 0]),
            "\\x01\\x7f\\xff\\x0d\\x00"
        );
        assert_eq!(escape("é".as_bytes()), "\\xc3\\xa9");
    }

    #[test]
    fn unescape_inverts_escape_for_every_byte() {
        let all: Vec<u8> = (0..=255u8).collect();
        let text = escape(&all);
        assert!(text.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        assert_eq!(unescape(text.as_bytes()), Ok(all));
        assert_eq!(
            unescape(b"\\X"),
            Err("invalid escape \"\\\\X\" at byte 0 (accepted: \\t \\n \\r \\\\ \\xNN)".into())
        );
        assert!(unescape(b"ab\\").unwrap_err().contains("at byte 2"));
        assert!(unescape(b"\\x4").is_err());
        assert!(unescape(b"\\xzz").is_err());
        assert_eq!(unescape(b"\\x4A\\r"), Ok(b"J\r".to_vec()));
    }

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        assert_eq!(hex_encode(&[0x00, 0xab, 0x10]), "00ab10");
        assert_eq!(hex_decode(b"00AB10"), Ok(vec![0x00, 0xab, 0x10]));
        assert_eq!(hex_decode(b""), Ok(vec![]));
        assert!(hex_decode(b"abc").unwrap_err().contains("odd number"));
        assert!(hex_decode(b"zz")
            .unwrap_err()
            .contains("bad digit at position 0"));
    }

    #[test]
    fn codecs() {
        assert_eq!(Codec::Hex.show(b"\x01k"), "016b");
        assert_eq!(Codec::Text.show(b"\x01k"), "\\x01k");
        assert_eq!(Codec::Text.parse_field(b"a\\tb"), Ok(b"a\tb".to_vec()));
        assert_eq!(Codec::Hex.parse_field(b"6b"), Ok(b"k".to_vec()));
        let arg = OsStr::new("a\\tb");
        assert_eq!(Codec::Text.parse_arg(arg, "key"), Ok(b"a\\tb".to_vec()));
        assert!(Codec::Hex
            .parse_arg(arg, "key")
            .unwrap_err()
            .starts_with("key: invalid hex"));
    }

    #[test]
    fn quote_shortens() {
        assert_eq!(quote(b"a\"b"), "\"a\\\"b\"");
        assert!(quote(&[b'x'; 100]).ends_with("...\""));
    }
}
