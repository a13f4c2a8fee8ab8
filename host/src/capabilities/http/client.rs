//! How a tenant's admitted requests are sent: one `reqwest` client per tenant (connections
//! pooled), no proxy, no redirects followed, a whole-request timeout, and a resolver that
//! drops restricted addresses from every answer, so a name cannot lead to a private address
//! however its DNS answers change.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use wasmtime_wasi_http::{Error, WasiBody};

use super::address::restricted_range;
use super::body::CappedBody;
use super::policy::HttpPolicy;
use super::stub::HttpStub;

/// A tenant's outbound HTTP: its policy, and the client requests go through (none when the
/// policy allows no origin). The default allows nothing.
#[derive(Default)]
pub struct TenantHttp {
    /// What the tenant's bots may reach.
    pub policy: HttpPolicy,
    client: Option<reqwest::Client>,
    stub: Option<Arc<HttpStub>>,
}

impl std::fmt::Debug for TenantHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantHttp")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl TenantHttp {
    /// The client for `policy`.
    pub fn new(policy: HttpPolicy) -> anyhow::Result<Self> {
        let client = if policy.allowed.is_empty() {
            None
        } else {
            Some(
                reqwest::Client::builder()
                    .no_proxy()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(policy.timeout)
                    .connect_timeout(policy.timeout)
                    .pool_max_idle_per_host(4)
                    .dns_resolver(Arc::new(UnrestrictedOnly))
                    .build()?,
            )
        };
        Ok(Self {
            policy,
            client,
            stub: None,
        })
    }

    /// Requests admitted by `policy` get `stub`'s answers instead of going out (`wasmbot
    /// test`).
    pub fn stubbed(policy: HttpPolicy, stub: Arc<HttpStub>) -> Self {
        Self {
            policy,
            client: None,
            stub: Some(stub),
        }
    }

    /// The stub answering instead of the network, if any.
    pub fn stub(&self) -> Option<&Arc<HttpStub>> {
        self.stub.as_ref()
    }

    /// Sends an admitted `request` to `url`: the request body read up to the policy's size
    /// cap, the response's body capped the same way.
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        url: reqwest::Url,
    ) -> Result<http::Response<WasiBody>, SendError> {
        if let Some(stub) = &self.stub {
            let method = request.method().clone();
            return stub.answer(&method, &url).ok_or_else(|| {
                SendError::Refused(format!("no answer for {method} {url} in the script"))
            });
        }
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| SendError::Refused("the tenant's allowlist is empty".to_owned()))?;
        let limit = self.policy.max_body_bytes;
        let (parts, body) = request.into_parts();
        let body = Limited::new(body, limit)
            .collect()
            .await
            .map_err(|_| SendError::Failed(Error::HttpRequestBodySize(Some(limit as u64))))?
            .to_bytes();
        let response = client
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|error| match find_source::<RestrictedAddress>(&error) {
                Some(restricted) => SendError::Refused(restricted.to_string()),
                None => SendError::Failed(classify(&error)),
            })?;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(SendError::Failed(Error::HttpResponseBodySize(Some(
                limit as u64,
            ))));
        }
        let response: http::Response<reqwest::Body> = response.into();
        Ok(response.map(|body| CappedBody::new(body, limit).boxed_unsync()))
    }
}

/// Resolves names with the system resolver and keeps only unrestricted addresses (`localhost`
/// excepted: a request reaches it only when the allowlist names it, checked before sending).
struct UnrestrictedOnly;

/// A name that resolved only to restricted addresses.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to restricted addresses ({reason})")]
pub struct RestrictedAddress {
    /// The name.
    pub host: String,
    /// The first address's range.
    pub reason: &'static str,
}

impl Resolve for UnrestrictedOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept = keep_unrestricted(host, found)?;
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// The addresses `host` resolved to that a request may connect to (all of them for
/// `localhost`, which is admitted only when the allowlist names it); an error when none is.
fn keep_unrestricted(
    host: String,
    found: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, RestrictedAddress> {
    if host == "localhost" {
        return Ok(found);
    }
    let first_reason = found.iter().find_map(|a| restricted_range(a.ip()));
    let kept: Vec<SocketAddr> = found
        .into_iter()
        .filter(|a| restricted_range(a.ip()).is_none())
        .collect();
    match first_reason {
        Some(reason) if kept.is_empty() => Err(RestrictedAddress { host, reason }),
        _ => Ok(kept),
    }
}

/// Why an admitted request got no response.
#[derive(Debug)]
pub enum SendError {
    /// The policy refused it after all (its name resolved only to restricted addresses).
    Refused(String),
    /// It failed on the way (connection, timeout, size).
    Failed(Error),
}

/// The `wasi:http` error for a failed request.
pub fn classify(error: &reqwest::Error) -> Error {
    if error.is_timeout() {
        Error::ConnectionTimeout
    } else if error.is_connect() {
        Error::ConnectionRefused
    } else if error.is_body() || error.is_decode() {
        Error::HttpResponseIncomplete
    } else {
        Error::InternalError(Some(error.to_string()))
    }
}

/// The first error of type `E` in `error`'s chain of sources.
pub fn find_source<'a, E: StdError + 'static>(
    error: &'a (dyn StdError + 'static),
) -> Option<&'a E> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn a_name_keeps_only_its_public_addresses() {
        let found = addrs(&["10.0.0.7:0", "93.184.216.34:0", "[::1]:0"]);
        let kept = keep_unrestricted("api.example.com".into(), found).unwrap();
        assert_eq!(kept, addrs(&["93.184.216.34:0"]));
    }

    #[test]
    fn a_name_with_only_restricted_addresses_is_refused_with_the_reason() {
        let found = addrs(&["169.254.169.254:0", "127.0.0.1:0"]);
        let error = keep_unrestricted("rebind.example".into(), found).unwrap_err();
        assert_eq!(
            error.to_string(),
            "rebind.example resolves only to restricted addresses (cloud metadata)"
        );
    }

    #[test]
    fn localhost_keeps_its_addresses_since_it_is_admitted_only_when_named() {
        let found = addrs(&["127.0.0.1:0"]);
        assert_eq!(
            keep_unrestricted("localhost".into(), found.clone()).unwrap(),
            found
        );
    }
}
