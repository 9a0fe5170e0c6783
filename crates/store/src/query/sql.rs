//! Query conditions turned into SQL.
//!
//! Only column names from a per-table allowlist ever reach the SQL text; every value is a bound
//! parameter, so a value such as `x' OR '1'='1` is compared as that literal string.

use super::{Condition, Op};
use crate::db::{placeholders, Value};
use crate::error::{Result, StoreError};

/// How a field's value is bound, so that `size>10` compares numbers and `virtio=true` booleans.
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
                sql.push_str(&placeholders(params.len() + 1, values.len()));
                sql.push(')');
                for v in values {
                    params.push(bind(f, v)?);
                }
            }
            // LIKE is a string match whatever the column type.
            Op::Like | Op::NotLike => {
                sql.push_str(&format!(" ?{}", params.len() + 1));
                params.push(Value::Text(cond.value.clone()));
            }
            _ => {
                sql.push_str(&format!(" ?{}", params.len() + 1));
                params.push(bind(f, &cond.value)?);
            }
        }
    }
    sql.push_str(" ORDER BY create_date, uuid");
    if let Some(limit) = limit {
        sql.push_str(&format!(" LIMIT ?{}", params.len() + 1));
        params.push(Value::Int(limit.into()));
    }
    Ok((sql, params))
}

fn bind(f: &Field, value: &str) -> Result<Value> {
    match f.kind {
        Kind::Text => Ok(Value::Text(value.to_owned())),
        Kind::Int => value.trim().parse().map(Value::Int).map_err(|_| {
            StoreError::InvalidCondition(format!(
                "field '{}' takes an integer, not '{value}'",
                f.json
            ))
        }),
        Kind::Bool => match value.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
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
    fn select_puts_only_allowlisted_columns_in_sql() {
        let conds = [
            Condition::parse("mediaType=ISO").unwrap(),
            Condition::parse("uuid?=a,b,c").unwrap(),
            Condition::parse("md5Sum is null").unwrap(),
        ];
        let (sql, params) = select("uuid", "image", IMAGE_FIELDS, &conds, Some(5)).unwrap();
        assert_eq!(
            sql,
            "SELECT uuid FROM image WHERE media_type = ?1 AND uuid IN (?2, ?3, ?4) \
             AND md5_sum IS NULL ORDER BY create_date, uuid LIMIT ?5"
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
