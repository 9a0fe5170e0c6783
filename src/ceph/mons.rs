//! Monitor addresses of a Ceph backup storage: checking AddCephBackupStorage's `monUrls`,
//! and showing the stored ones as ZStack's `mons` inventory.
//!
//! A stored address is exactly one entry of librados's `mon_host` list: `host`, `host:port`,
//! `[v6]:port`, `v2:host:port`, or an address vector `[v2:host:3300,v1:host:6789]`.
//! ZStack's own form, `user:password@host[:sshPort]/?monPort=N`, is accepted too and stored
//! as `host:N`: imghash never logs in to the monitors, so the SSH part is dropped, never kept.

/// The port of a monitor given without one (librados then also tries 3300 for msgr2).
pub const DEFAULT_MON_PORT: u16 = 6789;

/// Host and port of one stored monitor address, for the inventory; `None` if `addr` is not
/// a monitor address. For an address vector, the v1 address's port (ZStack's `monPort`).
pub fn describe(addr: &str) -> Option<(String, u16)> {
    if let Some(inner) = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        if inner.starts_with("v1:") || inner.starts_with("v2:") {
            let parts = split_outside_brackets(inner)
                .into_iter()
                .map(|part| Some((part.starts_with("v1:"), typed(part)?)))
                .collect::<Option<Vec<_>>>()?;
            let chosen = parts.iter().find(|(v1, _)| *v1).unwrap_or(&parts[0]);
            return Some(chosen.1.clone());
        }
    }
    if addr.starts_with("v1:") || addr.starts_with("v2:") {
        return typed(addr);
    }
    plain(addr)
}

/// The monitors of `monUrls`, one stored address each; an entry may list several monitors
/// separated by commas (as `mon host` in ceph.conf does). `Err` names the bad entry.
#[cfg(feature = "ceph")]
pub fn normalise(entries: &[String]) -> Result<Vec<String>, String> {
    let mut mons = Vec::new();
    for entry in entries {
        for part in split_outside_brackets(entry.trim()) {
            let part = part.trim();
            let mon = match part.rsplit_once('@') {
                Some((_, at_host)) => zstack_form(at_host),
                None => Some(part.to_string()),
            };
            match mon.filter(|mon| describe(mon).is_some()) {
                Some(mon) => mons.push(mon),
                None => {
                    return Err(format!(
                        "'{part}' is not a monitor address; expected HOST[:PORT], \
                         [v2:HOST:3300,v1:HOST:6789] or user:password@HOST/?monPort=PORT"
                    ))
                }
            }
        }
    }
    Ok(mons)
}

/// The `host[:sshPort]/?monPort=N` after the `@` of ZStack's form, as `host:N`.
#[cfg(feature = "ceph")]
fn zstack_form(at_host: &str) -> Option<String> {
    let (host_part, query) = match at_host.split_once('/') {
        Some((host, rest)) => (host, rest.strip_prefix('?').unwrap_or(rest)),
        None => (at_host, ""),
    };
    let host = host_part.split(':').next()?;
    let mut port = DEFAULT_MON_PORT;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("monPort", value)) => port = parse_port(value)?,
            // ZStack's other parameters (none today) say nothing about the monitor itself.
            Some(_) => {}
            None => return None,
        }
    }
    Some(format!("{host}:{port}"))
}

/// `v1:ADDR` or `v2:ADDR`.
fn typed(addr: &str) -> Option<(String, u16)> {
    plain(
        addr.strip_prefix("v1:")
            .or_else(|| addr.strip_prefix("v2:"))?,
    )
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn plain(addr: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let valid = !v6.is_empty()
            && v6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        if !valid {
            return None;
        }
        (v6, after.strip_prefix(':'))
    } else {
        match addr.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (addr, None),
        }
    };
    if !addr.starts_with('[') {
        let valid = !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !valid {
            return None;
        }
    }
    let port = match port {
        Some(text) => parse_port(text)?,
        None if addr.starts_with('[') && !addr.ends_with(']') => return None,
        None => DEFAULT_MON_PORT,
    };
    Some((host.to_string(), port))
}

fn parse_port(text: &str) -> Option<u16> {
    text.parse::<u16>().ok().filter(|&p| p > 0)
}

/// Splits at commas that are not inside `[...]`.
fn split_outside_brackets(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_every_form_librados_takes() {
        let cases = [
            ("127.0.0.1:6789", "127.0.0.1", 6789),
            ("mon-a", "mon-a", 6789),
            ("[::1]:3300", "::1", 3300),
            ("v2:10.0.0.1:3300", "10.0.0.1", 3300),
            ("[v2:127.0.0.1:3300,v1:127.0.0.1:6789]", "127.0.0.1", 6789),
            ("[v2:[::1]:3300]", "::1", 3300),
        ];
        for (addr, host, port) in cases {
            assert_eq!(describe(addr), Some((host.to_string(), port)), "{addr}");
        }
        for bad in [
            "",
            ":6789",
            "host:0",
            "host:99999",
            "a b",
            "[zz]:1",
            "[v2:x:1,v9:y]",
        ] {
            assert_eq!(describe(bad), None, "{bad}");
        }
    }

    #[cfg(feature = "ceph")]
    #[test]
    fn normalises_zstack_urls_dropping_the_ssh_credentials() {
        let given = [
            "root:password@172.20.0.12/?monPort=7777".to_string(),
            "root:p@ss@mon-b:22".to_string(),
            " 10.0.0.1:6789,[v2:10.0.0.2:3300,v1:10.0.0.2:6789] ".to_string(),
        ];
        assert_eq!(
            normalise(&given).unwrap(),
            [
                "172.20.0.12:7777",
                "mon-b:6789",
                "10.0.0.1:6789",
                "[v2:10.0.0.2:3300,v1:10.0.0.2:6789]"
            ]
        );
    }

    #[cfg(feature = "ceph")]
    #[test]
    fn a_bad_entry_is_named() {
        for bad in ["10.0.0.1:http", "root@h/?monPort=x", "a,,b", "h o st"] {
            let err = normalise(&[bad.to_string()]).unwrap_err();
            assert!(err.contains("is not a monitor address"), "{err}");
        }
        let err = normalise(&["10.0.0.1:http".to_string()]).unwrap_err();
        assert!(err.contains("'10.0.0.1:http'"), "{err}");
    }
}
