//! Reading a request as ZStack's REST server does: the `Authorization` header, the JSON
//! body (the action's key, `params`, tags) and the headers of an asynchronous job.
//!
//! Field types are checked here with ZStack's error (SYS.1007); whether a field is present
//! and valid is the application's check, so both fronts answer alike.

use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use super::reply::Refused;
use crate::app::ApiError;

/// A JSON object.
pub type Object = Map<String, Value>;

/// The `Authorization` value of a call that needs a session, as the application reads it
/// (`OAuth <sessionUuid>`). Missing or another scheme: 400, ZStack's sentences.
pub fn authorization(headers: &HeaderMap) -> Result<String, Refused> {
    let value = headers
        .get("authorization")
        .ok_or_else(|| Refused::bad_request("missing header 'Authorization'"))?;
    let text = value.to_str().unwrap_or_default().trim();
    // ZStack compares the scheme case-sensitively and trims the rest.
    match text.strip_prefix("OAuth") {
        Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
            Ok(format!("OAuth {}", rest.trim()))
        }
        _ => Err(Refused::bad_request("Authorization type must be 'OAuth'")),
    }
}

/// The body as a JSON object; an empty body is an empty object.
pub fn object(body: &[u8]) -> Result<Object, Refused> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Object::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Refused::bad_request("the body must be a JSON object")),
        Err(e) => Err(Refused::bad_request(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}

/// The object under the action's key: the first of `keys` present in the body (ZStack's
/// key first, then the spellings imghash also accepts). 400 with ZStack's sentence if none.
pub fn action<'a>(body: &'a Object, keys: &[&str], path: &str) -> Result<&'a Value, Refused> {
    keys.iter().find_map(|key| body.get(*key)).ok_or_else(|| {
        Refused::bad_request(format!(
            "the body doesn't contain action mapping to the URL[{path}]"
        ))
    })
}

/// The fields of a create API, wrapped in `params` (absent: none).
pub fn params(body: &Object) -> Result<Object, ApiError> {
    fields_of("params", body.get("params"))
}

/// An action's or `params`'s value as an object (null or absent: none).
pub fn fields_of(name: &str, value: Option<&Value>) -> Result<Object, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(Object::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => Err(ApiError::InvalidArgument(format!(
            "Field '{name}' must be a JSON object"
        ))),
    }
}

/// A string field; absent or null is empty (the application decides if it is mandatory).
pub fn string(fields: &Object, name: &str) -> Result<String, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::InvalidArgument(format!(
            "Field '{name}' must be a string"
        ))),
    }
}

/// A list of strings; absent or null is empty.
pub fn strings(fields: &Object, name: &str) -> Result<Vec<String>, ApiError> {
    let wrong = || ApiError::InvalidArgument(format!("Field '{name}' must be a list of strings"));
    match fields.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string).ok_or_else(wrong))
            .collect(),
        Some(_) => Err(wrong()),
    }
}

/// A boolean; absent or null is false.
pub fn boolean(fields: &Object, name: &str) -> Result<bool, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::InvalidArgument(format!(
            "Field '{name}' must be true or false"
        ))),
    }
}

/// `systemTags` and `userTags`, read at the top level or inside the action object (top
/// level wins, as in ZStack). imghash stores no tags; their types are still checked.
pub fn check_tags(body: &Object, inner: &Object) -> Result<(), ApiError> {
    for name in ["systemTags", "userTags"] {
        let from = if body.contains_key(name) { body } else { inner };
        strings(from, name)?;
    }
    Ok(())
}

/// The headers of an asynchronous call.
#[derive(Clone, Debug, Default)]
pub struct JobHeaders {
    /// `X-Job-UUID`: the client's job id.
    pub job_uuid: Option<String>,
    /// `X-Web-Hook`: where to POST the result.
    pub web_hook: Option<String>,
    /// `X-API-Timeout`: the bound of the job.
    pub api_timeout: Option<Duration>,
}

impl JobHeaders {
    /// Reads and checks them: 400 with ZStack's sentence for a malformed `X-Job-UUID`.
    pub fn read(headers: &HeaderMap) -> Result<JobHeaders, Refused> {
        let text = |name: &str| {
            headers
                .get(name)
                .map(|v| v.to_str().unwrap_or("\u{fffd}").trim().to_string())
        };
        let job_uuid = text("x-job-uuid")
            .map(|id| {
                // ZStack checks the length; imghash also wants hex, since the id goes into
                // a URL and the inventory.
                if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(id.to_ascii_lowercase())
                } else {
                    Err(Refused::bad_request(
                        "Invalid header[X-Job-UUID], it must be a UUID with '-' stripped",
                    ))
                }
            })
            .transpose()?;
        let api_timeout = text("x-api-timeout")
            .map(|t| match t.parse::<u64>() {
                Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
                _ => Err(Refused::bad_request(format!(
                    "Invalid header[X-API-Timeout]: '{t}' is not a whole number of seconds \
                     above 0"
                ))),
            })
            .transpose()?;
        Ok(JobHeaders {
            job_uuid,
            web_hook: text("x-web-hook"),
            api_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn authorization_wants_the_oauth_scheme_exactly() {
        let ok = authorization(&headers(&[("authorization", "OAuth  abc ")])).unwrap();
        assert_eq!(ok, "OAuth abc");
        let missing = authorization(&HeaderMap::new()).unwrap_err();
        assert_eq!(missing.1, "missing header 'Authorization'");
        for other in ["oauth abc", "Bearer abc", "OAuthabc"] {
            let refused = authorization(&headers(&[("authorization", other)])).unwrap_err();
            assert_eq!(refused.1, "Authorization type must be 'OAuth'", "{other}");
        }
    }

    #[test]
    fn a_job_uuid_is_32_hex_characters() {
        let read = |id: &str| JobHeaders::read(&headers(&[("x-job-uuid", id)]));
        assert!(read("0123456789abcdef0123456789ABCDEF").is_ok());
        assert!(read("0123456789abcdef").is_err());
        assert!(read("0123456789abcdef-0123456789abcde").is_err());
    }
}
