//! Checks on request fields: uuids and ZStack's enum spellings.

use super::error::ApiError;

/// Image formats imghash accepts.
pub const FORMATS: &[&str] = &["qcow2", "raw", "iso", "vmdk", "vmtx"];
/// Image media types.
pub const MEDIA_TYPES: &[&str] = &["RootVolumeTemplate", "DataVolumeTemplate", "ISO"];
/// Guest platforms.
pub const PLATFORMS: &[&str] = &[
    "Linux",
    "Windows",
    "WindowsVirtio",
    "Other",
    "Paravirtualization",
];
/// CPU architectures.
pub const ARCHITECTURES: &[&str] = &["x86_64", "aarch64", "mips64el", "loongarch64"];

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

/// One of ZStack's spellings (exact case), or `default` when empty.
pub fn one_of(
    field: &str,
    value: &str,
    allowed: &[&str],
    default: &str,
) -> Result<String, ApiError> {
    if value.is_empty() {
        return Ok(default.to_string());
    }
    if allowed.contains(&value) {
        Ok(value.to_string())
    } else {
        Err(ApiError::InvalidArgument(format!(
            "Field '{field}' must be one of {}, not '{value}'",
            allowed.join(", ")
        )))
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
