//! The outbound HTTP capability: standard `wasi:http/outgoing-handler`, so bots in any language
//! can call their own backends, within the tenant's policy. A request is admitted only to an
//! origin on the tenant's allowlist, never to a loopback, private, link-local or metadata
//! address unless the allowlist names that address (or `localhost`) itself, checked again on
//! every address a name resolves to; at most `max_requests_per_event` per event, each within
//! the policy's timeout and body size. A refused request is an error the bot sees
//! (`HTTP-request-denied`, or `destination-IP-prohibited` after resolution), a warning in the
//! operator's log and a count in the run's [`HttpCounts`].
//!
//! The capability owns its context and its hooks; the store data lends it the resource table.

mod address;
mod body;
mod client;
mod config;
mod policy;
mod stub;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::Instrument as _;
use wasmtime::component::ResourceTable;
use wasmtime_wasi_http::{
    Error, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
};

pub use address::restricted_range;
pub use client::TenantHttp;
pub use config::HttpConfig;
pub use policy::{AllowedOrigin, HttpPolicy, Scheme, Target};
pub use stub::{CannedAnswer, HttpStub};

use client::SendError;

/// What one instance's requests came to since the counts were last taken.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HttpCounts {
    /// Requests that got a response.
    pub sent: u64,
    /// Requests the policy refused.
    pub refused: u64,
    /// Admitted requests that failed (connection, timeout, size).
    pub failed: u64,
}

#[derive(Debug, Default)]
struct Tally {
    sent: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
}

/// The `wasi:http` capability of one bot instance.
pub struct OutboundHttp {
    ctx: WasiHttpCtx,
    hooks: PolicyHooks,
}

struct PolicyHooks {
    report: Report,
    access: Arc<TenantHttp>,
    requests: u32,
}

/// Where a request's outcome is told: the operator's log and the instance's tally.
#[derive(Clone)]
struct Report {
    tenant: Arc<str>,
    session_id: i64,
    tally: Arc<Tally>,
}

impl OutboundHttp {
    /// The capability for an instance of `tenant`'s bot, sending through `access`.
    pub fn new(tenant: &str, access: Arc<TenantHttp>) -> Self {
        Self {
            ctx: WasiHttpCtx::new(),
            hooks: PolicyHooks {
                report: Report {
                    tenant: tenant.into(),
                    session_id: 0,
                    tally: Arc::default(),
                },
                access,
                requests: 0,
            },
        }
    }

    /// Starts counting the requests of an event of `session_id`.
    pub fn begin_event(&mut self, session_id: i64) {
        self.hooks.report.session_id = session_id;
        self.hooks.requests = 0;
    }

    /// What the requests came to since the last call.
    pub fn take_counts(&self) -> HttpCounts {
        let tally = &self.hooks.report.tally;
        HttpCounts {
            sent: tally.sent.swap(0, Ordering::Relaxed),
            refused: tally.refused.swap(0, Ordering::Relaxed),
            failed: tally.failed.swap(0, Ordering::Relaxed),
        }
    }

    /// The view `wasmtime-wasi-http` works through, with the store's resource `table`.
    pub fn view<'a>(&'a mut self, table: &'a mut ResourceTable) -> WasiHttpCtxView<'a> {
        WasiHttpCtxView {
            ctx: &mut self.ctx,
            table,
            hooks: &mut self.hooks,
        }
    }
}

impl PolicyHooks {
    /// Where `request` goes, if the policy lets it; else why not.
    fn admit(&mut self, uri: &http::Uri) -> Result<(Target, reqwest::Url), String> {
        let policy = &self.access.policy;
        self.requests += 1;
        if self.requests > policy.max_requests_per_event {
            return Err(format!(
                "more than {} requests in one event",
                policy.max_requests_per_event
            ));
        }
        let url = reqwest::Url::parse(&uri.to_string())
            .map_err(|e| format!("{uri:?} is not a valid URL: {e}"))?;
        let target = target_of(&url)?;
        if policy.allowing(&target).is_none() {
            return Err(format!("{target} is not on the tenant's allowlist"));
        }
        let private_allowed = policy.allows_private(&target);
        if let Some(reason) = target.ip().and_then(restricted_range)
            && !private_allowed
        {
            return Err(format!(
                "{target} is a {reason} address, which the allowlist does not name"
            ));
        }
        if target.host == "localhost" && !private_allowed {
            return Err(format!(
                "{target} is a loopback address, which the allowlist does not name"
            ));
        }
        Ok((target, url))
    }
}

impl Report {
    fn refused(&self, reason: &str) {
        self.tally.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            tenant = %self.tenant,
            session = self.session_id,
            reason,
            "a bot's outbound request was refused"
        );
    }
}

/// The normalised target of `url` (the host as `reqwest` will connect to it).
fn target_of(url: &reqwest::Url) -> Result<Target, String> {
    let scheme = Scheme::parse(url.scheme())
        .ok_or_else(|| format!("the scheme {:?} is not http or https", url.scheme()))?;
    let host = match url.host() {
        Some(url::Host::Domain(name)) => name.trim_end_matches('.').to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(format!("{url} has no host")),
    };
    let port = url.port().unwrap_or(scheme.default_port());
    Ok(Target { scheme, host, port })
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

impl WasiHttpHooks for PolicyHooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _response_errors: IoFuture,
    ) -> SendFuture {
        // A child of the bot run's span; the request carries it as `traceparent`.
        let span = tracing::info_span!(
            "bot.http",
            method = %request.method(),
            host = request.uri().host().unwrap_or_default(),
            status = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let admitted = self.admit(request.uri());
        let report = self.report.clone();
        if let Err(reason) = &admitted {
            report.refused(reason);
            if let Some(stub) = self.access.stub() {
                stub.refused(request.method(), request.uri(), reason);
            }
        }
        let access = self.access.clone();
        let traced = span.clone();
        Box::new(
            async move {
                let Ok((target, url)) = admitted else {
                    traced.record("outcome", "refused");
                    return Err(Error::HttpRequestDenied);
                };
                crate::telemetry::inject(&traced, request.headers_mut());
                let sent = access.send(request, url).await;
                traced.record(
                    "outcome",
                    match &sent {
                        Ok(_) => "sent",
                        Err(SendError::Refused(_)) => "refused",
                        Err(SendError::Failed(_)) => "failed",
                    },
                );
                match sent {
                    Ok(response) => {
                        traced.record("status", response.status().as_u16());
                        report.tally.sent.fetch_add(1, Ordering::Relaxed);
                        Ok((response, Box::new(async { Ok(()) }) as IoFuture))
                    }
                    Err(SendError::Refused(reason)) => {
                        report.refused(&reason);
                        Err(Error::DestinationIpProhibited)
                    }
                    Err(SendError::Failed(error)) => {
                        report.tally.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(
                            tenant = %report.tenant,
                            session = report.session_id,
                            %target,
                            %error,
                            "a bot's outbound request failed"
                        );
                        Err(error)
                    }
                }
            }
            .instrument(span),
        )
    }
}
