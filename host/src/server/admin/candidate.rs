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
use crate::dispatch::candidate::Candidate;
use crate::server::AppState;

/// `?mode=…`.
#[derive(Debug, Deserialize)]
pub(super) struct Mode {
    mode: Option<String>,
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
    match mode.mode.as_deref().unwrap_or("shadow") {
        "shadow" => {}
        other => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("mode {other:?} is not offered: use mode=shadow"),
            ));
        }
    }
    let bytes = plugin_body(&state, body).await?;
    let (plugin, bytes) = state
        .registry
        .load(bytes, "candidate")
        .await
        .map_err(|reason| error(StatusCode::UNPROCESSABLE_ENTITY, reason))?;
    let candidate = Candidate::shadow(plugin, bytes);
    let view = candidate.view();
    tracing::info!(tenant = %id, hash = %candidate.plugin.info().hash, "shadow candidate set: live events also run on it, compared, never sent");
    tenant.candidate.store(Some(Arc::new(candidate)));
    Ok(Json(view).into_response())
}

/// `GET …/candidate`: the candidate and what its comparisons found.
pub(super) async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let tenant = find(&state, &id)?;
    match tenant.candidate.load_full() {
        Some(candidate) => Ok(Json(candidate.view()).into_response()),
        None => Err(error(
            StatusCode::NOT_FOUND,
            format!("tenant {id} has no candidate"),
        )),
    }
}

/// `DELETE …/candidate`: withdraws it (its findings are dropped with it).
pub(super) async fn withdraw(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let tenant = find(&state, &id)?;
    match tenant.candidate.swap(None) {
        Some(candidate) => {
            tracing::info!(tenant = %id, hash = %candidate.plugin.info().hash, "candidate withdrawn");
            Ok(Json(json!({ "withdrawn": candidate.plugin.info().hash })).into_response())
        }
        None => Err(error(
            StatusCode::NOT_FOUND,
            format!("tenant {id} has no candidate"),
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
    if swapped.is_ok() {
        // Unless another candidate was set meanwhile.
        tenant.candidate.compare_and_swap(&Some(candidate), None);
    }
    swap_response(swapped)
}
