//! [`Value`]s to and from PostgreSQL's wire types.
//!
//! PostgreSQL infers a type for every parameter (`size > $1` makes `$1` a bigint), and the
//! client refuses a Rust value of another type. A [`Value`] adapts to what was inferred, so the
//! operations bind the same values on both back-ends.

use std::error::Error;

use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::Row as PgRow;

use crate::db::{Row, Value};
use crate::error::{Result, StoreError};

type BoxError = Box<dyn Error + Sync + Send>;

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> std::result::Result<IsNull, BoxError> {
        match (self, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Int(v), &Type::INT8) => v.to_sql(ty, out),
            (Value::Int(v), &Type::INT4) => i32::try_from(*v)?.to_sql(ty, out),
            (Value::Int(v), &Type::INT2) => i16::try_from(*v)?.to_sql(ty, out),
            (Value::Int(v), &Type::FLOAT8) => (*v as f64).to_sql(ty, out),
            (Value::Real(v), &Type::FLOAT8) => v.to_sql(ty, out),
            (Value::Bool(v), &Type::BOOL) => v.to_sql(ty, out),
            (Value::Text(s), _) if <&str as ToSql>::accepts(ty) => s.as_str().to_sql(ty, out),
            (value, ty) => Err(format!("cannot bind {value:?} as a PostgreSQL {ty}").into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked in to_sql, which knows the value as well as the type.
        true
    }

    to_sql_checked!();
}

/// Reads every column of a row, by the type the server says it has.
pub(crate) fn read_row(row: &PgRow) -> Result<Row> {
    let values = row
        .columns()
        .iter()
        .enumerate()
        .map(|(i, column)| read_value(row, i, column.type_()))
        .collect::<Result<_>>()?;
    Ok(Row(values))
}

fn read_value(row: &PgRow, i: usize, ty: &Type) -> Result<Value> {
    read_typed(row, i, ty)
        .map_err(StoreError::Postgres)?
        .ok_or_else(|| {
            StoreError::Decode(format!(
                "column {i} has the PostgreSQL type {ty}, which the store does not read"
            ))
        })
}

/// `None` for a type the store never uses.
fn read_typed(
    row: &PgRow,
    i: usize,
    ty: &Type,
) -> std::result::Result<Option<Value>, postgres::Error> {
    let value = match *ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)?
            .map(|v| Value::Int(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)?
            .map(|v| Value::Int(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
        Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(Value::Bool),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            row.try_get::<_, Option<String>>(i)?.map(Value::Text)
        }
        _ => return Ok(None),
    };
    Ok(Some(value.unwrap_or(Value::Null)))
}
