//! Order-preserving encoding of tuples into byte strings.
//!
//! A key-value store such as Firn orders keys byte by byte. This crate packs a
//! tuple of typed [`Element`]s (nulls, byte strings, strings, nested tuples,
//! integers, floats and booleans) into bytes that sort in the order of the
//! tuples themselves, so composite keys like `(user_id, "orders", order_id)`
//! sort by user, then by order id as a number, and every key that starts with
//! a given prefix lies in one contiguous byte range.
//!
//! The encoding follows FoundationDB's tuple layer for the kinds it has in
//! common; FORMAT.md, next to this crate's sources, describes it byte by byte.
//!
//! - [`pack`] / [`pack_into`] turn elements into bytes; [`unpack`] turns them
//!   back, rejecting malformed input with a [`TupleError`] and never
//!   panicking.
//! - `pack(a) < pack(b)` byte-wise exactly when `a < b` in the order described
//!   on [`Element`]; a shorter tuple sorts before every tuple it is a prefix of.
//! - `pack(a ++ b) == pack(a) ++ pack(b)`, and [`range`] gives the byte range
//!   of all packed tuples that strictly extend a prefix.
//! - [`Tuple`] is a small builder over the same functions.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use firn_tuple::{unpack, Tuple};
//!
//! // A byte-ordered map stands in for the store.
//! let mut store = BTreeMap::new();
//! for (user_id, order_id, total) in [
//!     (7u64, 300u64, "9.50"),
//!     (300, 5, "0.10"),
//!     (7, 20, "3.00"),
//!     (12, 1, "1.25"),
//!     (7, 1_000_000, "12.00"),
//! ] {
//!     let key = Tuple::new().push(user_id).push("orders").push(order_id);
//!     store.insert(key.pack(), total);
//! }
//!
//! // Keys sort by user id, then by order id, both numerically.
//! let keys = store
//!     .keys()
//!     .map(|key| Tuple::unpack(key))
//!     .collect::<Result<Vec<_>, _>>()?;
//! let order = |user: u64, order: u64| Tuple::new().push(user).push("orders").push(order);
//! assert_eq!(
//!     keys,
//!     [order(7, 20), order(7, 300), order(7, 1_000_000), order(12, 1), order(300, 5)]
//! );
//!
//! // All orders of user 7, and nothing else, with one range scan.
//! let (start, end) = Tuple::new().push(7u64).push("orders").range();
//! let mut orders_of_user_7 = Vec::new();
//! for (key, total) in store.range(start..end) {
//!     let elements = unpack(key)?;
//!     orders_of_user_7.push((elements[2].as_u64(), *total));
//! }
//! assert_eq!(
//!     orders_of_user_7,
//!     [(Some(20), "3.00"), (Some(300), "9.50"), (Some(1_000_000), "12.00")]
//! );
//! # Ok::<(), firn_tuple::TupleError>(())
//! ```

mod decode;
mod element;
mod encode;
mod error;
mod format;
mod tuple;

pub use decode::{unpack, MAX_NESTING_DEPTH};
pub use element::{Element, Integer};
pub use encode::{pack, pack_into, range};
pub use error::TupleError;
pub use tuple::Tuple;
