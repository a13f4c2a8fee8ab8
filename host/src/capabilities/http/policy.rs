//! Which outbound requests a tenant's bot may make: the allowlist of origins and the per-request
//! limits, as configured in `[tenant.http]`.

use std::net::IpAddr;
use std::time::Duration;

/// A tenant's outbound HTTP policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPolicy {
    /// The origins requests may go to; empty: every request is refused.
    pub allowed: Vec<AllowedOrigin>,
    /// Time one request may take, from connecting to the last byte of the response.
    pub timeout: Duration,
    /// Most bytes of one response body (and of one request body).
    pub max_body_bytes: usize,
    /// Most requests one event may make.
    pub max_requests_per_event: u32,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        Self {
            allowed: Vec::new(),
            timeout: Duration::from_secs(3),
            max_body_bytes: 1 << 20,
            max_requests_per_event: 10,
        }
    }
}

/// One allowlist entry: `[scheme://]host[:port]`, where host may be `*` (any host) or start
/// with `*.` (any subdomain), and port may be `*` (any port).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct AllowedOrigin {
    /// `http` or `https`; `None`: both.
    scheme: Option<Scheme>,
    host: HostPattern,
    port: PortPattern,
}

/// The two schemes a bot may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// The scheme's default port.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// The scheme named `name`, if it is one of the two.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Subdomains(String),
    Exact(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortPattern {
    Any,
    SchemeDefault,
    Exact(u16),
}

/// What a request is addressed to, normalised (lowercase host, IP literals without brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The scheme.
    pub scheme: Scheme,
    /// Host name or IP literal.
    pub host: String,
    /// The port, the scheme's default when the URL has none.
    pub port: u16,
}

impl Target {
    /// The host as an IP address, when it is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        match self.ip() {
            Some(IpAddr::V6(ip)) => write!(f, "{scheme}://[{ip}]:{}", self.port),
            _ => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

impl AllowedOrigin {
    /// Parses one allowlist entry; the error says what is wrong with it.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        let (scheme, rest) = match entry.split_once("://") {
            Some((scheme, rest)) => (
                Some(Scheme::parse(scheme).ok_or_else(|| {
                    format!("{entry:?}: the scheme must be http or https, not {scheme:?}")
                })?),
                rest,
            ),
            None => (None, entry),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "{entry:?}: give an origin (scheme, host, port), without path, query or user"
            ));
        }
        let (host, port) = split_host_port(rest).map_err(|e| format!("{entry:?}: {e}"))?;
        let port = match port {
            None => PortPattern::SchemeDefault,
            Some("*") => PortPattern::Any,
            Some(port) => PortPattern::Exact(
                port.parse()
                    .map_err(|_| format!("{entry:?}: {port:?} is not a port number"))?,
            ),
        };
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            HostPattern::Subdomains(domain.to_owned())
        } else if host.is_empty() || host.contains('*') {
            return Err(format!(
                "{entry:?}: the host must be a name, an IP address, `*` or `*.domain`"
            ));
        } else {
            HostPattern::Exact(host)
        };
        Ok(Self { scheme, host, port })
    }

    /// Whether this entry lets a request reach `target`.
    pub fn matches(&self, target: &Target) -> bool {
        let scheme = self.scheme.is_none_or(|s| s == target.scheme);
        let port = match self.port {
            PortPattern::Any => true,
            PortPattern::SchemeDefault => target.port == target.scheme.default_port(),
            PortPattern::Exact(port) => target.port == port,
        };
        let host = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(host) => *host == target.host,
            HostPattern::Subdomains(domain) => target
                .host
                .strip_suffix(domain.as_str())
                .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1),
        };
        scheme && port && host
    }

    /// Whether this entry names `target`'s host itself (an IP literal, or `localhost`), which
    /// lets the request reach a loopback or private address.
    pub fn names_host_exactly(&self, target: &Target) -> bool {
        matches!(&self.host, HostPattern::Exact(host) if *host == target.host)
            && (target.ip().is_some() || target.host == "localhost")
    }
}

impl TryFrom<String> for AllowedOrigin {
    type Error = String;

    fn try_from(entry: String) -> Result<Self, String> {
        Self::parse(&entry)
    }
}

/// `host[:port]` or `[v6]:port`, split; the host of a bracketed IPv6 address is returned
/// without its brackets.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address needs its closing `]`")?;
        return match after {
            "" => Ok((host, None)),
            port => port
                .strip_prefix(':')
                .map(|port| (host, Some(port)))
                .ok_or_else(|| format!("unexpected {port:?} after the IPv6 address")),
        };
    }
    Ok(match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (authority, None),
    })
}

impl HttpPolicy {
    /// The entry that lets a request reach `target`, if any.
    pub fn allowing(&self, target: &Target) -> Option<&AllowedOrigin> {
        self.allowed.iter().find(|origin| origin.matches(target))
    }

    /// Whether some entry lets `target` reach a loopback or private address, because it names
    /// the target's host itself (see [`AllowedOrigin::names_host_exactly`]).
    pub fn allows_private(&self, target: &Target) -> bool {
        self.allowed
            .iter()
            .any(|origin| origin.matches(target) && origin.names_host_exactly(target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(scheme: Scheme, host: &str, port: u16) -> Target {
        Target {
            scheme,
            host: host.into(),
            port,
        }
    }

    #[test]
    fn an_origin_without_port_allows_the_default_port_of_its_scheme() {
        let origin = AllowedOrigin::parse("https://api.example.com").unwrap();
        assert!(origin.matches(&target(Scheme::Https, "api.example.com", 443)));
        assert!(!origin.matches(&target(Scheme::Https, "api.example.com", 8443)));
        assert!(!origin.matches(&target(Scheme::Http, "api.example.com", 80)));
        assert!(!origin.matches(&target(Scheme::Https, "example.com", 443)));
    }

    #[test]
    fn without_scheme_both_are_allowed_and_ports_may_be_any() {
        let origin = AllowedOrigin::parse("api.example.com:*").unwrap();
        assert!(origin.matches(&target(Scheme::Http, "api.example.com", 8080)));
        assert!(origin.matches(&target(Scheme::Https, "api.example.com", 443)));
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let origin = AllowedOrigin::parse("https://*.example.com").unwrap();
        assert!(origin.matches(&target(Scheme::Https, "a.b.example.com", 443)));
        assert!(!origin.matches(&target(Scheme::Https, "example.com", 443)));
        assert!(!origin.matches(&target(Scheme::Https, "badexample.com", 443)));
    }

    #[test]
    fn ip_literals_and_localhost_named_exactly_allow_private_addresses() {
        let policy = HttpPolicy {
            allowed: ["http://127.0.0.1:8080", "http://[::1]:9000", "https://*"]
                .iter()
                .map(|e| AllowedOrigin::parse(e).unwrap())
                .collect(),
            ..HttpPolicy::default()
        };
        assert!(policy.allows_private(&target(Scheme::Http, "127.0.0.1", 8080)));
        assert!(policy.allows_private(&target(Scheme::Http, "::1", 9000)));
        assert!(!policy.allows_private(&target(Scheme::Http, "127.0.0.1", 8081)));
        // `*` allows any host, but not a private one.
        assert!(
            policy
                .allowing(&target(Scheme::Https, "10.0.0.1", 443))
                .is_some()
        );
        assert!(!policy.allows_private(&target(Scheme::Https, "10.0.0.1", 443)));
    }

    #[test]
    fn bad_entries_are_refused_with_a_reason() {
        for (entry, says) in [
            ("ftp://example.com", "scheme"),
            ("https://example.com/path", "without path"),
            ("https://example.com:http", "port number"),
            ("https://ex*ample.com", "host must be"),
            ("https://[::1", "closing"),
        ] {
            let error = AllowedOrigin::parse(entry).unwrap_err();
            assert!(error.contains(says), "{entry}: {error}");
        }
    }
}
