//! Conversions between Python objects and the engine's types.

use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString};
use pyo3::IntoPyObjectExt;

/// A key or value given by the caller: `bytes`, `bytearray` or `str`
/// (stored as its UTF-8 encoding). Anything else is a `TypeError`.
pub(crate) fn to_bytes(what: &str, obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Bytes::copy_from_slice(b.as_bytes()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Bytes::from(b.to_vec()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Bytes::from(s.to_cow()?.into_owned()));
    }
    let type_name = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes, bytearray or str, not {type_name}"
    )))
}

/// Like [`to_bytes`], for an optional argument (`None` stays `None`).
pub(crate) fn to_opt_bytes(what: &str, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Bytes>> {
    match obj {
        Some(o) if !o.is_none() => to_bytes(what, o).map(Some),
        _ => Ok(None),
    }
}

/// Every key of an iterable of keys.
pub(crate) fn to_keys(keys: &Bound<'_, PyAny>) -> PyResult<Vec<Bytes>> {
    if keys.is_instance_of::<PyBytes>() || keys.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "keys must be an iterable of keys (a list, a tuple, ...), not a single key",
        ));
    }
    let mut out = Vec::new();
    for key in keys.try_iter()? {
        out.push(to_bytes("key", &key?)?);
    }
    Ok(out)
}

/// A value as Python `bytes`.
pub(crate) fn py_bytes<'py>(py: Python<'py>, b: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, b)
}

/// Values as a list of `bytes` or `None`.
pub(crate) fn py_values<'py>(
    py: Python<'py>,
    values: &[Option<Bytes>],
) -> PyResult<Bound<'py, PyList>> {
    PyList::new(
        py,
        values
            .iter()
            .map(|v| v.as_ref().map(|b| PyBytes::new(py, b))),
    )
}

/// A JSON value (from the engine's `Serialize` types) as plain Python data:
/// dicts, lists, ints, floats, strings, booleans and `None`.
pub(crate) fn json_to_py<'py>(
    py: Python<'py>,
    v: &serde_json::Value,
) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value as V;
    Ok(match v {
        V::Null => py.None().into_bound(py),
        V::Bool(b) => b.into_bound_py_any(py)?,
        V::Number(n) => {
            if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)?
            } else if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)?
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)?
            }
        }
        V::String(s) => s.into_bound_py_any(py)?,
        V::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        V::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, json_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// A `Serialize` value of the engine as plain Python data (see [`json_to_py`]).
pub(crate) fn to_py_data<'py, T: serde::Serialize>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_value(value)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    json_to_py(py, &json)
}
