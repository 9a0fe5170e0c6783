//! The database URL: what the client library reads, what we read ourselves (TLS), the
//! time-outs we add, and the form that may be shown (password hidden).

use std::time::Duration;

use crate::error::{Result, StoreError};

/// How long a new connection may take (TCP, TLS, authentication).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Keep-alive probes on an idle connection, so that a database host that vanished without
/// closing the socket is noticed within about 10 + 3 × 5 seconds.
const KEEPALIVES_IDLE: Duration = Duration::from_secs(10);
const KEEPALIVES_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVES_RETRIES: u32 = 3;
/// Bytes sent but not acknowledged for this long close the connection (Linux): a request
/// written to a vanished host fails instead of waiting for TCP's retransmissions (minutes).
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(20);
/// The server cancels a statement running longer: every statement of the store is a few
/// indexed rows, so one this slow waits on a lock or a sick server.
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection is encrypted and the server authenticated, as libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsMode {
    /// Never TLS.
    Disable,
    /// TLS if the server offers it, without checking its certificate (libpq's default).
    Prefer,
    /// TLS or no connection, without checking the certificate.
    Require,
    /// TLS, the certificate chained to a trusted root; any host name.
    VerifyCa,
    /// TLS, the certificate chained to a trusted root and naming the host.
    VerifyFull,
}

/// A parsed `postgres://` URL.
pub(crate) struct DatabaseUrl {
    pub(crate) config: postgres::Config,
    pub(crate) tls: TlsMode,
    /// `sslrootcert`: a PEM file of trusted roots, or `None` for the Mozilla roots.
    pub(crate) root_cert: Option<String>,
    /// The URL with its password replaced by `***`: the only form logged or put in errors.
    pub(crate) redacted: String,
}

impl DatabaseUrl {
    pub(crate) fn parse(url: &str) -> Result<DatabaseUrl> {
        let redacted = redact(url);
        let bad = |why: String| StoreError::InvalidUrl {
            url: redacted.clone(),
            reason: why,
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(bad("it must start with postgres:// or postgresql://".into()));
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut tls = TlsMode::Prefer;
        let mut root_cert = None;
        let mut passed = Vec::new();
        let mut given = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            given.push(key.to_owned());
            match key {
                "sslmode" => tls = parse_tls_mode(value).map_err(bad)?,
                "sslrootcert" => {
                    root_cert = Some(percent_decode(value)).filter(|v| v != "system");
                }
                _ => passed.push(pair),
            }
        }
        // The client library knows disable/prefer/require; the verification is ours.
        passed.push(match tls {
            TlsMode::Disable => "sslmode=disable",
            TlsMode::Prefer => "sslmode=prefer",
            _ => "sslmode=require",
        });
        let rebuilt = format!("{base}?{}", passed.join("&"));
        // The library's message names the option, never its value, so the password stays out.
        let mut config: postgres::Config = rebuilt
            .parse()
            .map_err(|e: postgres::Error| bad(e.to_string()))?;
        add_timeouts(&mut config, &given);
        Ok(DatabaseUrl {
            config,
            tls,
            root_cert,
            redacted,
        })
    }
}

/// Our time-outs, unless the URL sets its own.
fn add_timeouts(config: &mut postgres::Config, given: &[String]) {
    let unset = |key: &str| !given.iter().any(|g| g == key);
    if unset("connect_timeout") {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if unset("keepalives_idle") {
        config.keepalives_idle(KEEPALIVES_IDLE);
    }
    if unset("keepalives_interval") {
        config.keepalives_interval(KEEPALIVES_INTERVAL);
    }
    if unset("keepalives_retries") {
        config.keepalives_retries(KEEPALIVES_RETRIES);
    }
    if unset("tcp_user_timeout") {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
    if unset("application_name") {
        config.application_name("imghash");
    }
    // First, so that a statement_timeout in the URL's own options wins.
    let ours = format!("-c statement_timeout={}", STATEMENT_TIMEOUT.as_millis());
    let options = match config.get_options() {
        Some(theirs) => format!("{ours} {theirs}"),
        None => ours,
    };
    config.options(&options);
}

fn parse_tls_mode(value: &str) -> std::result::Result<TlsMode, String> {
    Ok(match value {
        "disable" => TlsMode::Disable,
        "prefer" | "allow" => TlsMode::Prefer,
        "require" => TlsMode::Require,
        "verify-ca" => TlsMode::VerifyCa,
        "verify-full" => TlsMode::VerifyFull,
        other => {
            return Err(format!(
                "sslmode '{other}' is not one of disable, allow, prefer, require, verify-ca, \
                 verify-full"
            ))
        }
    })
}

/// The URL with the password (in `user:password@` or a `password=` parameter) as `***`: the
/// form of a database URL fit for a log line.
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:***@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_owned(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some(("password", _)) => "password=***".to_owned(),
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        assert_eq!(
            redact("postgres://me:s3cr%2Ft@db:5432/inv?sslmode=require"),
            "postgres://me:***@db:5432/inv?sslmode=require"
        );
        assert_eq!(
            redact("postgresql://db/inv?user=me&password=s3cret"),
            "postgresql://db/inv?user=me&password=***"
        );
        assert_eq!(redact("postgres://me@db/inv"), "postgres://me@db/inv");
    }

    #[test]
    fn an_error_about_the_url_hides_the_password() {
        for url in [
            "postgres://me:s3cret@db/inv?sslmode=bogus",
            "postgres://me:s3cret@db/inv?nonsense=1",
            "mysql://me:s3cret@db/inv",
        ] {
            let err = DatabaseUrl::parse(url).err().unwrap().to_string();
            assert!(!err.contains("s3cret"), "{err}");
            assert!(err.contains("me:***@db"), "{err}");
        }
    }

    #[test]
    fn tls_modes_and_roots_are_read_and_the_rest_passed_on() {
        let url = DatabaseUrl::parse(
            "postgres://me:pw@db:6000/inv?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem\
             &connect_timeout=3",
        )
        .unwrap();
        assert_eq!(url.tls, TlsMode::VerifyFull);
        assert_eq!(url.root_cert.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(
            url.config.get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
        assert_eq!(url.config.get_dbname(), Some("inv"));
        assert_eq!(
            url.config.get_ssl_mode(),
            postgres::config::SslMode::Require
        );
        let plain = DatabaseUrl::parse("postgres://db/inv").unwrap();
        assert_eq!(plain.tls, TlsMode::Prefer);
        assert_eq!(plain.config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert!(plain
            .config
            .get_options()
            .is_some_and(|o| o.contains("statement_timeout=30000")));
    }
}
