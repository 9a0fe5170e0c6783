//! The small database layer every operation is written against: run a statement, read rows,
//! group statements in a transaction. Each back-end implements [`Conn`] (SQLite in [`sqlite`],
//! and PostgreSQL in [`postgres`]); the operations in `store/` write their SQL once.
//!
//! # The SQL the operations write
//!
//! Only what both dialects read the same: numbered placeholders `?1`, `?2` (a back-end that
//! wants another spelling rewrites them), `RETURNING`, `ON CONFLICT`, `EXISTS`, `coalesce`,
//! `IS NOT DISTINCT FROM` for a NULL-safe comparison, `NULLS FIRST` where the order of NULLs
//! matters. Types, pragmas, version tracking and error codes are the back-ends' business.
//!
//! # Values
//!
//! Parameters and columns are [`Value`]s, a handful of types that both dialects have. Rows are
//! read into owned values, by position, in the order of the `SELECT` list: the column lists
//! live next to the structs in `records.rs`.

use crate::error::{Result, StoreError};

pub(crate) mod postgres;
pub(crate) mod sqlite;

/// A parameter or a column value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bool(bool),
}

/// One connection, or one transaction on it.
pub(crate) trait Conn {
    /// Runs a statement; returns how many rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<usize>;

    /// Runs a statement and reads every row it returns.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;
}

impl dyn Conn + '_ {
    /// The first row, read with `read`, if there is one.
    pub(crate) fn query_opt<T>(
        &mut self,
        sql: &str,
        params: &[Value],
        read: impl Fn(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        self.query(sql, params)?.first().map(read).transpose()
    }

    /// Every row, read with `read`.
    pub(crate) fn query_all<T>(
        &mut self,
        sql: &str,
        params: &[Value],
        read: impl Fn(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.query(sql, params)?.iter().map(read).collect()
    }

    /// The first column of the first row: a count or an `EXISTS`.
    pub(crate) fn query_value(&mut self, sql: &str, params: &[Value]) -> Result<Value> {
        let rows = self.query(sql, params)?;
        let first = rows.into_iter().next().and_then(|r| r.0.into_iter().next());
        first.ok_or_else(|| StoreError::Decode(format!("no value from '{sql}'")))
    }
}

/// One row, its values in the order of the `SELECT` list.
#[derive(Debug)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value> {
        self.0.get(i).ok_or_else(|| {
            StoreError::Decode(format!("no column {i} in a row of {}", self.0.len()))
        })
    }

    fn mismatch(&self, i: usize, wanted: &str) -> StoreError {
        StoreError::Decode(format!("column {i} holds {:?}, not {wanted}", self.0[i]))
    }

    pub(crate) fn text(&self, i: usize) -> Result<String> {
        match self.at(i)? {
            Value::Text(s) => Ok(s.clone()),
            _ => Err(self.mismatch(i, "text")),
        }
    }

    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    pub(crate) fn int(&self, i: usize) -> Result<i64> {
        self.at(i)?
            .as_int()
            .ok_or_else(|| self.mismatch(i, "an integer"))
    }

    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    pub(crate) fn real(&self, i: usize) -> Result<f64> {
        match self.at(i)? {
            Value::Real(v) => Ok(*v),
            // SQLite hands back an integral REAL as it was bound in some paths.
            Value::Int(v) => Ok(*v as f64),
            _ => Err(self.mismatch(i, "a real")),
        }
    }

    /// A boolean: SQLite has none and stores 0 or 1.
    pub(crate) fn bool(&self, i: usize) -> Result<bool> {
        match self.at(i)? {
            Value::Bool(b) => Ok(*b),
            Value::Int(v) => Ok(*v != 0),
            _ => Err(self.mismatch(i, "a boolean")),
        }
    }
}

impl Value {
    /// The value as an integer (a count, a date); `None` if it is not one.
    pub(crate) fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The value as a boolean (an `EXISTS`); `None` if it is not one.
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Int(v) => Some(*v != 0),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_owned())
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<&i64> for Value {
    fn from(v: &i64) -> Value {
        Value::Int(*v)
    }
}

impl From<&f64> for Value {
    fn from(v: &f64) -> Value {
        Value::Real(*v)
    }
}

impl From<&bool> for Value {
    fn from(v: &bool) -> Value {
        Value::Bool(*v)
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Value {
        v.map_or(Value::Null, Value::from)
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Value {
        v.map_or(Value::Null, Value::Int)
    }
}

impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Value {
        v.as_ref().map_or(Value::Null, Value::from)
    }
}

impl From<&Option<i64>> for Value {
    fn from(v: &Option<i64>) -> Value {
        Value::from(*v)
    }
}

/// The parameters of a statement: `params![&bs.uuid, now_ms]`.
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::db::Value::from($value)),*] as &[$crate::db::Value]
    };
}
pub(crate) use params;

/// `count` placeholders from `?{first}` on, comma-separated: `?3, ?4, ?5`.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `INSERT INTO table (columns) VALUES (?1, …)`, one placeholder per column of the list.
pub(crate) fn insert_sql(table: &str, columns: &str) -> String {
    let count = columns.split(',').count();
    format!(
        "INSERT INTO {table} ({columns}) VALUES ({})",
        placeholders(1, count)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_from_the_first() {
        assert_eq!(placeholders(3, 3), "?3, ?4, ?5");
        assert_eq!(placeholders(1, 0), "");
    }

    #[test]
    fn insert_sql_has_a_placeholder_per_column() {
        assert_eq!(
            insert_sql("t", "a, b,\n c"),
            "INSERT INTO t (a, b,\n c) VALUES (?1, ?2, ?3)"
        );
    }

    #[test]
    fn options_become_null_or_the_value() {
        let none: Option<String> = None;
        assert_eq!(Value::from(&none), Value::Null);
        assert_eq!(Value::from(Some("a")), Value::Text("a".into()));
        assert_eq!(Value::from(&Some(5i64)), Value::Int(5));
    }
}
