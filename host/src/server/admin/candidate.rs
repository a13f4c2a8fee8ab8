//! `/admin/tenants/{id}/candidate`: a candidate version tried beside the serving one (shadow
//! mode: every live event also runs on it, compared, never sent), its findings, its
//! promotion to the serving version, and its withdrawal.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::{Answer, error, find, plugin_body, swap_response};
use crate::dispatch::canary::CanaryPolicy;
use crate::plugins::CandidateError;
use crate::server::AppState;

/// `?mode=shadow`, or `?mode=canary&percent=N[&margin=F&window_secs=S&min_events=N]`.
#[derive(Debug, Deserialize)]
pub(super) struct Mode {
    mode: Option<String>,
    percent: Option<u8>,
    margin: Option<f64>,
    window_secs: Option<u64>,
    min_events: Option<u32>,
}

impl Mode {
    /// The canary policy asked for, `None` for a shadow, or why the parameters are wrong.
    fn canary(&self) -> Result<Option<CanaryPolicy>, String> {
        match self.mode.as_deref().unwrap_or("shadow") {
            "shadow" => Ok(None),
            "canary" => {
                let defaults = CanaryPolicy::default();
                let policy = CanaryPolicy {
                    percent: self
                        .percent
                        .ok_or("mode=canary needs percent=N (0 to 100)")?,
                    margin: self.margin.unwrap_or(defaults.margin),
                    window: self
                        .window_secs
                        .map_or(defaults.window, std::time::Duration::from_secs),
                    min_events: self.min_events.unwrap_or(defaults.min_events),
                };
                policy.check()?;
                Ok(Some(policy))
            }
            other => Err(format!(
                "mode {other:?} is not offered: use shadow or canary"
            )),
        }
    }
}

/// `PUT …/candidate?mode=shadow`: validates the component as an upload is, and makes it the
/// tenant's candidate (replacing any earlier one and its findings).
pub(super) async fn set(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(mode): Query<Mode>,
    body: Body,
) -> Answer {
    let tenant = find(&state, &id)?;
    let canary = mode
        .canary()
        .map_err(|reason| error(StatusCode::BAD_REQUEST, reason))?;
    let bytes = plugin_body(&state, body).await?;
    match state.registry.set_candidate(&tenant, bytes, canary).await {
        Ok(candidate) => Ok(Json(candidate.view()).into_response()),
        Err(CandidateError::Refused(reason)) => {
            Err(error(StatusCode::UNPROCESSABLE_ENTITY, reason))
        }
        Err(CandidateError::Unavailable(reason)) => {
            Err(error(StatusCode::SERVICE_UNAVAILABLE, reason))
        }
    }
}

/// `GET …/candidate`: the candidate and what its comparisons found.
pub(super) async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let tenant = find(&state, &id)?;
    match tenant.candidate.load_full() {
        Some(candidate) => Ok(Json(candidate.view()).into_response()),
        None => {
            let last = tenant
                .last_withdrawal
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let message = match last {
                Some(reason) => format!("tenant {id} has no candidate ({reason})"),
                None => format!("tenant {id} has no candidate"),
            };
            Err(error(StatusCode::NOT_FOUND, message))
        }
    }
}

/// `DELETE …/candidate`: withdraws it (its findings are dropped with it).
pub(super) async fn withdraw(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let tenant = find(&state, &id)?;
    match state.registry.withdraw_candidate(&tenant).await {
        Ok(Some(hash)) => Ok(Json(json!({ "withdrawn": hash })).into_response()),
        Ok(None) => Err(error(
            StatusCode::NOT_FOUND,
            format!("tenant {id} has no candidate"),
        )),
        Err(e) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("storage: {e:#}"),
        )),
    }
}

/// `POST …/candidate/promote`: makes the candidate the serving version exactly as an upload
/// does (published, file rewritten, kept versions updated), then drops it as a candidate.
pub(super) async fn promote(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let tenant = find(&state, &id)?;
    let Some(candidate) = tenant.candidate.load_full() else {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("tenant {id} has no candidate"),
        ));
    };
    let swapped = state
        .registry
        .upload(&tenant, candidate.bytes.as_ref().clone())
        .await;
    // Unless another candidate was set meanwhile, it is no longer a candidate.
    let still = tenant
        .candidate
        .load()
        .as_ref()
        .is_some_and(|current| Arc::ptr_eq(current, &candidate));
    if swapped.is_ok()
        && still
        && let Err(e) = state.registry.withdraw_candidate(&tenant).await
    {
        tracing::warn!(tenant = %id, error = %format!("{e:#}"), "the promoted candidate is still stored; withdraw it");
    }
    swap_response(swapped)
}
