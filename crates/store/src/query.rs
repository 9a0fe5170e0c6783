//! ZStack query conditions (`name=foo`, `uuid?=a,b`, `md5Sum is null`) turned into SQL.
//!
//! Only column names from a per-table allowlist ever reach the SQL text; every value is a bound
//! parameter, so a value such as `x' OR '1'='1` is compared as that literal string.

use std::fmt;

use rusqlite::types::Value;

use crate::error::{Result, StoreError};

/// A comparison operator of ZStack's query API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `?=`: the value is a comma-separated list.
    In,
    /// `!?=`: the value is a comma-separated list.
    NotIn,
    /// `~=`: SQL `LIKE`, `%` matches any run of characters and `_` one character.
    Like,
    /// `!~=`: SQL `NOT LIKE`.
    NotLike,
    /// `field is null`: the value is ignored.
    IsNull,
    /// `field not null`: the value is ignored.
    NotNull,
}

/// The infix operators, longest first so that `!?=` is not read as `!` followed by `?=`.
const INFIX: &[(&str, Op)] = &[
    ("!?=", Op::NotIn),
    ("!~=", Op::NotLike),
    (">=", Op::Ge),
    ("<=", Op::Le),
    ("?=", Op::In),
    ("~=", Op::Like),
    ("!=", Op::NotEq),
    ("=", Op::Eq),
    (">", Op::Gt),
    ("<", Op::Lt),
];

impl Op {
    /// The operator as ZStack writes it (`is null` and `not null` for the postfix forms).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::NotEq => "!=",
            Op::Gt => ">",
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Le => "<=",
            Op::In => "?=",
            Op::NotIn => "!?=",
            Op::Like => "~=",
            Op::NotLike => "!~=",
            Op::IsNull => "is null",
            Op::NotNull => "not null",
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::NotEq => "!=",
            Op::Gt => ">",
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Le => "<=",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
            Op::Like => "LIKE",
            Op::NotLike => "NOT LIKE",
            Op::IsNull => "IS NULL",
            Op::NotNull => "IS NOT NULL",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One query condition: `field op value`, with the field's REST JSON name (`mediaType`).
///
/// Conditions of one query are ANDed, as in ZStack. Dates compare as milliseconds since the
/// Unix epoch (`createDate>1700000000000`), booleans as `true`/`false`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// REST JSON name of the field, checked against the queried table's allowlist.
    pub field: String,
    /// The comparison.
    pub op: Op,
    /// The right-hand side as typed; comma-separated for `?=` and `!?=`, empty for the null forms.
    pub value: String,
}

impl Condition {
    /// Builds a condition from its parts.
    pub fn new(field: impl Into<String>, op: Op, value: impl Into<String>) -> Self {
        Condition {
            field: field.into(),
            op,
            value: value.into(),
        }
    }

    /// Parses ZStack's text form: `name=foo`, `size>=1024`, `uuid?=a,b`, `name~=%web%`,
    /// `md5Sum is null`, `md5Sum not null`.
    ///
    /// The operator is the first one found after the field name, so a value may itself contain
    /// `=` (`url=file:///a=b`). Whether the field exists is checked when the query runs, since
    /// that depends on the table.
    pub fn parse(text: &str) -> Result<Condition> {
        let lower = text.to_ascii_lowercase();
        for (suffix, op) in [(" is null", Op::IsNull), (" not null", Op::NotNull)] {
            if let Some(field) = lower.strip_suffix(suffix) {
                let field = text[..field.len()].trim();
                if is_field_name(field) {
                    return Ok(Condition::new(field, op, ""));
                }
            }
        }
        let start = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .ok_or_else(|| StoreError::InvalidCondition(format!("'{text}' has no operator")))?;
        let field = &text[..start];
        if field.is_empty() {
            return Err(StoreError::InvalidCondition(format!(
                "'{text}' does not start with a field name"
            )));
        }
        let rest = &text[start..];
        let (sym, op) = INFIX
            .iter()
            .find(|(sym, _)| rest.starts_with(sym))
            .ok_or_else(|| {
                let shown: String = rest.chars().take(3).collect();
                StoreError::InvalidCondition(format!(
                    "unknown operator '{shown}' in '{text}'; use one of = != > < >= <= ?= !?= ~= !~= \
                     or 'is null' / 'not null'"
                ))
            })?;
        Ok(Condition::new(field, *op, &rest[sym.len()..]))
    }
}

fn is_field_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// How a field's value is bound, so that `size>10` compares numbers and `virtio=true` matches 1.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Text,
    Int,
    Bool,
}

/// A queryable field: REST name, column, type.
pub(crate) struct Field {
    pub json: &'static str,
    pub column: &'static str,
    pub kind: Kind,
}

const fn field(json: &'static str, column: &'static str, kind: Kind) -> Field {
    Field { json, column, kind }
}

pub(crate) const IMAGE_FIELDS: &[Field] = &[
    field("uuid", "uuid", Kind::Text),
    field("name", "name", Kind::Text),
    field("description", "description", Kind::Text),
    field("state", "state", Kind::Text),
    field("status", "status", Kind::Text),
    field("size", "size", Kind::Int),
    field("actualSize", "actual_size", Kind::Int),
    field("md5Sum", "md5_sum", Kind::Text),
    field("url", "url", Kind::Text),
    field("mediaType", "media_type", Kind::Text),
    field("guestOsType", "guest_os_type", Kind::Text),
    field("type", "type", Kind::Text),
    field("platform", "platform", Kind::Text),
    field("architecture", "architecture", Kind::Text),
    field("format", "format", Kind::Text),
    field("virtio", "virtio", Kind::Bool),
    field("system", "system", Kind::Bool),
    field("createDate", "create_date", Kind::Int),
    field("lastOpDate", "last_op_date", Kind::Int),
];

pub(crate) const BACKUP_STORAGE_FIELDS: &[Field] = &[
    field("uuid", "uuid", Kind::Text),
    field("name", "name", Kind::Text),
    field("description", "description", Kind::Text),
    field("type", "type", Kind::Text),
    field("url", "url", Kind::Text),
    field("state", "state", Kind::Text),
    field("status", "status", Kind::Text),
    field("totalCapacity", "total_capacity", Kind::Int),
    field("availableCapacity", "available_capacity", Kind::Int),
    field("createDate", "create_date", Kind::Int),
    field("lastOpDate", "last_op_date", Kind::Int),
];

/// Conditions one query may have. SQLite nests one `AND` per condition and refuses an
/// expression deeper than 1000; ZStack's own clients send a handful.
pub const MAX_CONDITIONS: usize = 100;

/// Values one `?=` / `!?=` list may have: all of them together stay far below SQLite's
/// 32766 bound parameters.
pub const MAX_LISTED_VALUES: usize = 1000;

/// Builds `SELECT columns FROM table [WHERE …] ORDER BY create_date, uuid [LIMIT ?]` and its
/// parameters.
pub(crate) fn select(
    columns: &str,
    table: &str,
    fields: &[Field],
    conditions: &[Condition],
    limit: Option<u32>,
) -> Result<(String, Vec<Value>)> {
    if conditions.len() > MAX_CONDITIONS {
        return Err(StoreError::InvalidCondition(format!(
            "a query takes at most {MAX_CONDITIONS} conditions, not {}",
            conditions.len()
        )));
    }
    let mut sql = format!("SELECT {columns} FROM {table}");
    let mut params = Vec::new();
    for (i, cond) in conditions.iter().enumerate() {
        let f = fields
            .iter()
            .find(|f| f.json == cond.field)
            .ok_or_else(|| {
                let known: Vec<&str> = fields.iter().map(|f| f.json).collect();
                StoreError::InvalidCondition(format!(
                    "unknown field '{}' for {table}; known fields: {}",
                    cond.field,
                    known.join(", ")
                ))
            })?;
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        sql.push_str(f.column);
        sql.push(' ');
        sql.push_str(cond.op.sql());
        match cond.op {
            Op::IsNull | Op::NotNull => {}
            Op::In | Op::NotIn => {
                let values: Vec<&str> = cond.value.split(',').collect();
                if values.len() > MAX_LISTED_VALUES {
                    return Err(StoreError::InvalidCondition(format!(
                        "condition on '{}' lists {} values; a list takes at most \
                         {MAX_LISTED_VALUES} values",
                        cond.field,
                        values.len()
                    )));
                }
                sql.push_str(" (");
                sql.push_str(&vec!["?"; values.len()].join(", "));
                sql.push(')');
                for v in values {
                    params.push(bind(f, v)?);
                }
            }
            // LIKE is a string match whatever the column type.
            Op::Like | Op::NotLike => {
                sql.push_str(" ?");
                params.push(Value::Text(cond.value.clone()));
            }
            _ => {
                sql.push_str(" ?");
                params.push(bind(f, &cond.value)?);
            }
        }
    }
    sql.push_str(" ORDER BY create_date, uuid");
    if let Some(limit) = limit {
        sql.push_str(" LIMIT ?");
        params.push(Value::Integer(limit.into()));
    }
    Ok((sql, params))
}

fn bind(f: &Field, value: &str) -> Result<Value> {
    match f.kind {
        Kind::Text => Ok(Value::Text(value.to_owned())),
        Kind::Int => value.trim().parse().map(Value::Integer).map_err(|_| {
            StoreError::InvalidCondition(format!(
                "field '{}' takes an integer, not '{value}'",
                f.json
            ))
        }),
        Kind::Bool => match value.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Integer(1)),
            "false" => Ok(Value::Integer(0)),
            _ => Err(StoreError::InvalidCondition(format!(
                "field '{}' takes true or false, not '{value}'",
                f.json
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_every_infix_operator() {
        let cases = [
            ("name=foo", "name", Op::Eq, "foo"),
            ("name!=foo", "name", Op::NotEq, "foo"),
            ("size>10", "size", Op::Gt, "10"),
            ("size<10", "size", Op::Lt, "10"),
            ("size>=10", "size", Op::Ge, "10"),
            ("size<=10", "size", Op::Le, "10"),
            ("uuid?=a,b", "uuid", Op::In, "a,b"),
            ("uuid!?=a,b", "uuid", Op::NotIn, "a,b"),
            ("name~=%web%", "name", Op::Like, "%web%"),
            ("name!~=%web%", "name", Op::NotLike, "%web%"),
        ];
        for (text, field, op, value) in cases {
            assert_eq!(
                Condition::parse(text).unwrap(),
                Condition::new(field, op, value),
                "{text}"
            );
        }
    }

    #[test]
    fn parse_reads_null_forms_case_insensitively() {
        assert_eq!(
            Condition::parse("md5Sum is null").unwrap(),
            Condition::new("md5Sum", Op::IsNull, "")
        );
        assert_eq!(
            Condition::parse("md5Sum NOT NULL").unwrap(),
            Condition::new("md5Sum", Op::NotNull, "")
        );
    }

    #[test]
    fn parse_keeps_operators_inside_the_value() {
        assert_eq!(
            Condition::parse("url=file:///a=b").unwrap(),
            Condition::new("url", Op::Eq, "file:///a=b")
        );
        // "is null" after an operator is a value, not the null form.
        assert_eq!(
            Condition::parse("name=is null").unwrap(),
            Condition::new("name", Op::Eq, "is null")
        );
        assert_eq!(
            Condition::parse("name=").unwrap(),
            Condition::new("name", Op::Eq, "")
        );
    }

    #[test]
    fn parse_rejects_missing_field_or_unknown_operator() {
        for text in ["=foo", "name", "name!foo", "name foo", "name^=x", ""] {
            let err = Condition::parse(text).unwrap_err();
            assert!(
                matches!(err, StoreError::InvalidCondition(_)),
                "{text}: {err}"
            );
        }
        let msg = Condition::parse("name!foo").unwrap_err().to_string();
        assert!(msg.contains("'!fo'"), "{msg}");
    }

    #[test]
    fn select_puts_only_allowlisted_columns_in_sql() {
        let conds = [
            Condition::parse("mediaType=ISO").unwrap(),
            Condition::parse("uuid?=a,b,c").unwrap(),
            Condition::parse("md5Sum is null").unwrap(),
        ];
        let (sql, params) = select("uuid", "image", IMAGE_FIELDS, &conds, Some(5)).unwrap();
        assert_eq!(
            sql,
            "SELECT uuid FROM image WHERE media_type = ? AND uuid IN (?, ?, ?) \
             AND md5_sum IS NULL ORDER BY create_date, uuid LIMIT ?"
        );
        assert_eq!(params.len(), 5);
    }

    #[test]
    fn select_rejects_bad_integer_and_boolean_values() {
        for text in ["size>big", "virtio=yes", "createDate?=1,x"] {
            let cond = Condition::parse(text).unwrap();
            let err = select("uuid", "image", IMAGE_FIELDS, &[cond], None).unwrap_err();
            assert!(matches!(err, StoreError::InvalidCondition(_)), "{text}");
        }
    }
}
