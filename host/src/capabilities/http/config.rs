//! `[tenant.http]`: the outbound HTTP policy as written in the configuration file.

use std::time::Duration;

use serde::Deserialize;

use super::policy::{AllowedOrigin, HttpPolicy};

/// `[tenant.http]`. Without it (or with an empty `allowed_hosts`), every request is refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Origins the tenant's bots may reach: `[scheme://]host[:port]`, host `*` or `*.domain`
    /// for any or any subdomain, port `*` for any (default: the scheme's); without a scheme,
    /// `http` and `https`. Loopback and private addresses only when named here themselves.
    #[serde(default)]
    pub allowed_hosts: Vec<AllowedOrigin>,
    /// Time one request may take, connection to last byte, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Most KiB of one response body (and of one request body).
    #[serde(default = "default_max_body_kib")]
    pub max_body_kib: usize,
    /// Most requests one event may make.
    #[serde(default = "default_max_requests")]
    pub max_requests_per_event: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            timeout_ms: default_timeout_ms(),
            max_body_kib: default_max_body_kib(),
            max_requests_per_event: default_max_requests(),
        }
    }
}

fn default_timeout_ms() -> u64 {
    HttpPolicy::default().timeout.as_millis() as u64
}
fn default_max_body_kib() -> usize {
    HttpPolicy::default().max_body_bytes >> 10
}
fn default_max_requests() -> u32 {
    HttpPolicy::default().max_requests_per_event
}

impl HttpConfig {
    /// The policy the runtime enforces.
    pub fn policy(&self) -> HttpPolicy {
        HttpPolicy {
            allowed: self.allowed_hosts.clone(),
            timeout: Duration::from_millis(self.timeout_ms),
            max_body_bytes: self.max_body_kib << 10,
            max_requests_per_event: self.max_requests_per_event,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_entry_is_refused_naming_it() {
        let error = toml::from_str::<HttpConfig>(r#"allowed_hosts = ["ftp://x.example"]"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("ftp://x.example"), "{error}");
        assert!(error.contains("allowed_hosts"), "{error}");
    }

    #[test]
    fn defaults_apply_to_missing_keys() {
        let config: HttpConfig = toml::from_str(r#"allowed_hosts = ["api.example.com"]"#).unwrap();
        let policy = config.policy();
        assert_eq!(policy.allowed.len(), 1);
        assert_eq!(policy.timeout, HttpPolicy::default().timeout);
        assert_eq!(policy.max_requests_per_event, 10);
    }
}
