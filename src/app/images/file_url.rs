//! `file:` URLs as RFC 8089 has them: `file:///path`, `file://localhost/path` and
//! `file:/path`, with percent-escapes (`%20`) decoded to the bytes they stand for, so any
//! file name, UTF-8 or not, can be named.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::app::error::ApiError;

/// The absolute local path `url` names; SYS.1007 naming the url otherwise.
pub fn local_path(url: &str) -> Result<PathBuf, ApiError> {
    let unsupported = || {
        ApiError::InvalidArgument(format!(
            "Unsupported url '{url}': imghash adds images from file:///absolute/path \
             (or file://localhost/absolute/path)"
        ))
    };
    let rest = strip_prefix_ignore_case(url, "file:").ok_or_else(unsupported)?;
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            let slash = authority_and_path.find('/').ok_or_else(unsupported)?;
            let (host, path) = authority_and_path.split_at(slash);
            if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
                return Err(ApiError::InvalidArgument(format!(
                    "The url '{url}' names the host '{host}': imghash reads local files only \
                     (file:///path or file://localhost/path)"
                )));
            }
            path
        }
        None if rest.starts_with('/') => rest,
        None => {
            return Err(ApiError::InvalidArgument(format!(
                "The url '{url}' must name an absolute path (file:///…)"
            )))
        }
    };
    let bytes = percent_decode(path).ok_or_else(|| {
        ApiError::InvalidArgument(format!(
            "The url '{url}' has a bad percent-escape: '%' must be followed by two hex \
             digits, and %00 cannot be in a path"
        ))
    })?;
    Ok(PathBuf::from(OsString::from_vec(bytes)))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// The bytes of `text` with `%XX` decoded; `None` for a malformed escape or a NUL.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hex = |c: Option<u8>| (c? as char).to_digit(16);
        let value = hex(bytes.next())? * 16 + hex(bytes.next())?;
        match value {
            0 => return None,
            v => out.push(v as u8),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_8089_forms_and_escapes() {
        let path = |url: &str| local_path(url).map(|p| p.into_os_string().into_vec());
        assert_eq!(path("file:///tmp/a.img").unwrap(), b"/tmp/a.img");
        assert_eq!(path("file://localhost/tmp/a.img").unwrap(), b"/tmp/a.img");
        assert_eq!(path("FILE://LocalHost/tmp/a.img").unwrap(), b"/tmp/a.img");
        assert_eq!(path("file:/tmp/a.img").unwrap(), b"/tmp/a.img");
        assert_eq!(path("file:///tmp/a%20b.img").unwrap(), b"/tmp/a b.img");
        assert_eq!(path("file:///tmp/%ff%C3%a9").unwrap(), b"/tmp/\xff\xc3\xa9");
        for bad in [
            "file:///tmp/a%2",
            "file:///tmp/a%zz",
            "file:///tmp/a%00b",
            "file://host/tmp/a",
            "file://localhost",
            "file:tmp/a",
            "http://x/a",
        ] {
            let err = local_path(bad).unwrap_err();
            assert!(matches!(err, ApiError::InvalidArgument(_)), "{bad}");
            assert!(err.details().contains(bad), "{bad}: {err}");
        }
    }
}
