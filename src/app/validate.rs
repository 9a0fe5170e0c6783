//! Checks on request fields: uuids, lengths and ZStack's enum spellings.

use std::fmt::Display;
use std::str::FromStr;

use super::error::ApiError;

/// A mandatory uuid: 32 lower-case hex characters, as ZStack makes them.
pub fn uuid<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    if value.is_empty() {
        return Err(ApiError::missing(field));
    }
    if value.len() == 32
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        Ok(value)
    } else {
        Err(ApiError::InvalidArgument(format!(
            "Field '{field}' must be a uuid of 32 lower-case hex characters, not '{value}'"
        )))
    }
}

/// A mandatory non-empty string.
pub fn required<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    if value.trim().is_empty() {
        Err(ApiError::missing(field))
    } else {
        Ok(value)
    }
}

/// Longest name ZStack accepts (`@APIParam(maxLength = 255)`, a VARCHAR(255) column).
pub const MAX_NAME: usize = 255;
/// Longest description ZStack accepts (`@APIParam(maxLength = 2048)`).
pub const MAX_DESCRIPTION: usize = 2048;

/// Longest password accepted: far beyond any typed one and its 128-character SHA-512 hex.
pub const MAX_PASSWORD: usize = 1024;

/// A field of at most `max` characters. Without this bound, any string up to tonic's 4 MiB
/// message limit would be stored in the inventory and returned by every query.
pub fn at_most(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let len = value.chars().count();
    if len > max {
        return Err(ApiError::InvalidArgument(format!(
            "Field '{field}' is {len} characters long; at most {max} are allowed"
        )));
    }
    Ok(())
}

/// One of an enum's words (exact case), or `default` when empty.
pub fn word<T>(field: &str, value: &str, all: &[T], default: Option<T>) -> Result<T, ApiError>
where
    T: FromStr + Display + Copy,
{
    if value.is_empty() {
        return default.ok_or_else(|| ApiError::missing(field));
    }
    value.parse().map_err(|_| {
        let allowed: Vec<String> = all.iter().map(ToString::to_string).collect();
        ApiError::InvalidArgument(format!(
            "Field '{field}' must be one of {}, not '{value}'",
            allowed.join(", ")
        ))
    })
}

/// A node name (`--node-name`): 1 to 255 letters, digits, `.`, `-` or `_`, as host names
/// are, so that it reads well in logs and error sentences.
pub fn node_name(name: &str) -> Result<&str, ApiError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(name)
    } else {
        Err(ApiError::InvalidArgument(format!(
            "The node name '{name}' must be 1 to {MAX_NAME} letters, digits, '.', '-' or '_'"
        )))
    }
}

/// An address to reach a server at (`--advertise`): `host:port`, the port a number.
pub fn host_port(address: &str) -> Result<&str, ApiError> {
    let port = address
        .rsplit_once(':')
        .map(|(host, port)| (host, port.parse::<u16>()));
    match port {
        Some((host, Ok(port))) if !host.is_empty() && port != 0 && !address.contains('/') => {
            Ok(address)
        }
        _ => Err(ApiError::InvalidArgument(format!(
            "The address '{address}' must be HOST:PORT"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_accepts_only_32_lower_hex() {
        assert!(uuid("uuid", "0123456789abcdef0123456789abcdef").is_ok());
        for bad in [
            "0123456789ABCDEF0123456789abcdef",
            "abc",
            "0123456789abcdef0123456789abcdeg",
        ] {
            let err = uuid("uuid", bad).unwrap_err();
            assert!(err.details().contains(bad), "{err}");
        }
        assert!(matches!(
            uuid("uuid", ""),
            Err(ApiError::InvalidArgument(_))
        ));
    }
}
