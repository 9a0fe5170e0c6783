//! ZStack query conditions (`name=foo`, `uuid?=a,b`, `md5Sum is null`): parsed here, turned
//! into SQL in [`sql`].

use std::fmt;

use crate::error::{Result, StoreError};

mod sql;

pub(crate) use sql::{select, BACKUP_STORAGE_FIELDS, IMAGE_FIELDS};
pub use sql::{MAX_CONDITIONS, MAX_LISTED_VALUES};

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
}
