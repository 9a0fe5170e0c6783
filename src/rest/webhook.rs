//! `X-Web-Hook`: when an asynchronous job ends, its result is POSTed to the URL the client
//! gave, with `X-Job-UUID` and `X-Job-Success`, retried on failure as ZStack does (15 tries,
//! 2 s apart by default).
//!
//! A hook makes the server send requests where a client says, so only hosts the operator
//! allows (`--webhook-allow`, none by default) may be named; any other is refused with 400
//! before the job starts. Redirects are not followed, since one could lead elsewhere.

use std::sync::OnceLock;

use reqwest::Url;
use serde_json::Value;

use super::config::RestConfig;
use super::reply::Refused;

/// A web hook whose host the operator allows.
#[derive(Clone, Debug)]
pub struct Hook {
    /// Where to POST.
    pub url: Url,
}

impl Hook {
    /// The hook of `text`, if it is an http(s) URL to a host in `allow` (`host` allows any
    /// port of it, `host:port` that port only).
    pub fn allowed(text: &str, allow: &[String]) -> Result<Hook, Refused> {
        let url = Url::parse(text).map_err(|e| {
            Refused::bad_request(format!(
                "Invalid header[X-Web-Hook]: '{text}' is not a URL: {e}"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::bad_request(format!(
                "Invalid header[X-Web-Hook]: '{text}' must be an http or https URL"
            )));
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = url.port_or_known_default().unwrap_or(0);
        let with_port = format!("{host}:{port}");
        let ok = allow.iter().any(|entry| {
            let entry = entry.to_ascii_lowercase();
            entry == host || entry == with_port
        });
        if !ok {
            let allowed = match allow {
                [] => "none (the operator allows hosts with --webhook-allow)".to_string(),
                hosts => hosts.join(", "),
            };
            return Err(Refused::bad_request(format!(
                "Web hook host '{host}' of X-Web-Hook[{text}] is not allowed; web hooks may go \
                 to: {allowed}"
            )));
        }
        Ok(Hook { url })
    }
}

/// The HTTP client of every delivery (one connection pool).
fn client(config: &RestConfig) -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.webhook_timeout)
            .build()
            .unwrap_or_default()
    })
}

/// POSTs the job's result until the receiver answers 2xx or the tries are used up.
pub async fn deliver(
    hook: Hook,
    job_uuid: String,
    success: bool,
    body: Value,
    config: &RestConfig,
) {
    let client = client(config);
    let tries = config.webhook_tries.max(1);
    for attempt in 1..=tries {
        let sent = client
            .post(hook.url.clone())
            .header("X-Job-UUID", &job_uuid)
            .header("X-Job-Success", if success { "true" } else { "false" })
            .json(&body)
            .send()
            .await;
        let why = match sent {
            Ok(answer) if answer.status().is_success() => {
                tracing::info!(job = %job_uuid, hook = %hook.url, attempt, "web hook delivered");
                return;
            }
            Ok(answer) => format!("HTTP {}", answer.status()),
            Err(err) => err.to_string(),
        };
        tracing::warn!(job = %job_uuid, hook = %hook.url, attempt, tries, reason = %why,
            "web hook delivery failed");
        if attempt < tries {
            tokio::time::sleep(config.webhook_interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_hosts_and_ports_pass() {
        let allow = vec!["127.0.0.1:9000".to_string(), "hooks.example".to_string()];
        assert!(Hook::allowed("http://127.0.0.1:9000/x", &allow).is_ok());
        assert!(Hook::allowed("http://127.0.0.1:9001/x", &allow).is_err());
        assert!(Hook::allowed("https://HOOKS.example:8443/x", &allow).is_ok());
        assert!(Hook::allowed("ftp://hooks.example/x", &allow).is_err());
        let refused = Hook::allowed("http://10.0.0.1/x", &[]).unwrap_err();
        assert!(refused.1.contains("'10.0.0.1'"), "{}", refused.1);
    }
}
