//! Key and value generation: the same scheme as firn-bench's `keys.rs` (same
//! generator, key format, orders and value buffer), so both harnesses write
//! identical keys and values for a seed.
//!
//! Keys are fixed-width: the zero-padded decimal form of a key number in
//! `0..num` (`--key-size` 16 turns 42 into `0000000000000042`), so byte order
//! equals numeric order and every workload can name any key by number.
//! Orders are deterministic for a seed: sequential, a seeded permutation
//! (every key exactly once, in random order), or uniform random draws.
//!
//! Values follow db_bench's generator: a 1 MiB buffer made of pieces whose
//! first `ratio` part is random printable bytes and whose rest repeats it, so
//! values compress to about `ratio` of their size. Each value is a zero-copy
//! slice of that buffer.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

/// SplitMix64: a small, fast, seedable generator (stable across versions,
/// so a seed always means the same key order).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator for stream `index` of `seed` (e.g. one per client task).
    pub fn stream(seed: u64, index: u64) -> Rng {
        let mut r = Rng(seed ^ index.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift (bias below 2^-32 for
    /// the sizes used here).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Formats key numbers as fixed-width, zero-padded decimal keys.
#[derive(Clone, Copy, Debug)]
pub struct KeyFormat {
    size: usize,
}

impl KeyFormat {
    /// A format of `size`-byte keys able to name every key number below `num`.
    pub fn new(size: usize, num: u64) -> Result<KeyFormat, String> {
        if size == 0 {
            return Err("--key-size must be at least 1".into());
        }
        let largest = num.saturating_sub(1);
        let digits = largest.checked_ilog10().map_or(1, |d| d as usize + 1);
        if digits > size {
            return Err(format!(
                "--key-size {size} is too small for --num {num}: key numbers need {digits} decimal digits"
            ));
        }
        Ok(KeyFormat { size })
    }

    /// The key of number `n` (a new allocation the engine can keep).
    pub fn key(&self, n: u64) -> Bytes {
        let mut buf = Vec::with_capacity(self.size);
        self.write(n, &mut buf);
        Bytes::from(buf)
    }

    /// Writes the key of number `n` into `buf` (replacing its contents),
    /// for reads that need no owned key.
    pub fn write(&self, n: u64, buf: &mut Vec<u8>) {
        buf.clear();
        buf.resize(self.size, b'0');
        let mut rest = n;
        for byte in buf.iter_mut().rev() {
            if rest == 0 {
                break;
            }
            *byte = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
    }
}

/// The order in which a workload visits key numbers.
#[derive(Clone, Debug)]
pub enum Order {
    /// `0, 1, 2, ...`
    Sequential,
    /// Every key number once, shuffled with a seed.
    Permutation(Arc<[u64]>),
    /// Independent uniform draws from `0..num` (with repeats).
    Uniform { num: u64, seed: u64 },
}

impl Order {
    /// A seeded random permutation of `0..num` (Fisher-Yates).
    pub fn permutation(num: u64, seed: u64) -> Order {
        let mut keys: Vec<u64> = (0..num).collect();
        let mut rng = Rng::new(seed);
        for i in (1..keys.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            keys.swap(i, j);
        }
        Order::Permutation(keys.into())
    }

    /// The key numbers client `index` of `clients` visits when `total`
    /// operations are split evenly among them.
    pub fn share(&self, total: u64, index: usize, clients: usize) -> KeySource {
        let range = share_range(total, index, clients);
        match self {
            Order::Sequential => KeySource::Seq(range),
            Order::Permutation(keys) => KeySource::Perm {
                keys: keys.clone(),
                range,
            },
            Order::Uniform { num, seed } => KeySource::Uniform {
                rng: Rng::stream(*seed, index as u64),
                num: *num,
                left: range.end - range.start,
            },
        }
    }
}

/// The `index`-th of `parts` contiguous, near-equal parts of `0..total`.
pub fn share_range(total: u64, index: usize, parts: usize) -> Range<u64> {
    let split = |i: usize| (u128::from(total) * i as u128 / parts.max(1) as u128) as u64;
    split(index)..split(index + 1)
}

/// One client's stream of key numbers.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// A contiguous range, in order.
    Seq(Range<u64>),
    /// Positions `range` of a shared permutation.
    Perm { keys: Arc<[u64]>, range: Range<u64> },
    /// `left` uniform draws from `0..num`.
    Uniform { rng: Rng, num: u64, left: u64 },
}

impl KeySource {
    /// How many key numbers remain.
    pub fn remaining(&self) -> u64 {
        match self {
            KeySource::Seq(r) | KeySource::Perm { range: r, .. } => r.end - r.start,
            KeySource::Uniform { left, .. } => *left,
        }
    }
}

impl Iterator for KeySource {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        match self {
            KeySource::Seq(r) => r.next(),
            KeySource::Perm { keys, range } => {
                let i = range.next()?;
                keys.get(usize::try_from(i).ok()?).copied()
            }
            KeySource::Uniform { rng, num, left } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                Some(rng.below(*num))
            }
        }
    }
}

/// Size of the shared value buffer (db_bench uses 1 MiB too).
const VALUE_BUFFER: usize = 1 << 20;
/// Length of one compressible piece of the buffer.
const PIECE: usize = 100;

/// Hands out values as slices of a shared, compressible buffer.
#[derive(Clone, Debug)]
pub struct ValueGen {
    data: Bytes,
    pos: usize,
}

impl ValueGen {
    /// A generator of values whose random fraction is `ratio`; `max_len` is
    /// the longest value that will be asked for.
    pub fn new(seed: u64, ratio: f64, max_len: usize) -> ValueGen {
        let mut rng = Rng::new(seed ^ 0x76A1_7E5E_ED00_0001);
        let total = VALUE_BUFFER.max(max_len.saturating_mul(2));
        let mut data = Vec::with_capacity(total + PIECE);
        let random_len = ((PIECE as f64 * ratio).round() as usize).clamp(1, PIECE);
        while data.len() < total {
            let piece_start = data.len();
            for _ in 0..random_len {
                data.push(b' ' + rng.below(95) as u8);
            }
            while data.len() < piece_start + PIECE {
                let i = piece_start + (data.len() - piece_start) % random_len;
                data.push(data[i]);
            }
        }
        ValueGen {
            data: Bytes::from(data),
            pos: 0,
        }
    }

    /// The same buffer, starting at another offset (one per client task).
    pub fn fork(&self, index: usize) -> ValueGen {
        ValueGen {
            data: self.data.clone(),
            pos: (index * 7919 * PIECE) % (self.data.len() / 2),
        }
    }

    /// The next value of `len` bytes.
    pub fn next_value(&mut self, len: usize) -> Bytes {
        if self.pos + len > self.data.len() {
            self.pos = 0;
        }
        let value = self.data.slice(self.pos..self.pos + len);
        self.pos += len;
        value
    }
}
