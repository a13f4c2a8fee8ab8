//! The admin API under `/admin`: tenants and their plugin versions, upload, rollback,
//! configuration reload, dead letters. Every route needs `Authorization: Bearer <admin
//! token>` (compared in constant time); without a configured token every route is refused.

use std::time::UNIX_EPOCH;

use axum::Json;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AppState;
use super::auth::{authorized, bearer_token};
use crate::dispatch::Tenant;
use crate::plugins::{SwapError, SwapOutcome};

mod candidate;
mod openapi;

/// The admin routes, behind the admin token (but for the API's OpenAPI document).
pub fn routes(state: AppState) -> Router<AppState> {
    let described = Router::new().route("/admin/openapi.json", get(openapi::document));
    Router::new()
        .route("/admin/tenants", get(list_tenants))
        .route("/admin/tenants/{id}", get(show_tenant))
        .route("/admin/tenants/{id}/plugin", put(upload_plugin))
        .route("/admin/tenants/{id}/versions", get(list_versions))
        .route("/admin/tenants/{id}/rollback", post(rollback))
        .route(
            "/admin/tenants/{id}/candidate",
            get(candidate::show)
                .put(candidate::set)
                .delete(candidate::withdraw),
        )
        .route(
            "/admin/tenants/{id}/candidate/promote",
            post(candidate::promote),
        )
        .route("/admin/reload", post(reload))
        .route("/admin/dead-letters", get(list_dead_letters))
        .route("/admin/dead-letters/retry", post(retry_dead_letters))
        .route("/admin/dead-letters/drop", post(drop_dead_letters))
        .route_layer(middleware::from_fn_with_state(state, require_admin_token))
        .merge(described)
}

/// An admin API error: a status and a message, answered as `{"error": …}`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

type Answer = Result<Response, ApiError>;

async fn require_admin_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.registry.admin_token() else {
        return error(
            StatusCode::UNAUTHORIZED,
            "the admin API is disabled: set server.admin_token_env or server.admin_token_file",
        )
        .into_response();
    };
    match bearer_token(request.headers()) {
        None => error(
            StatusCode::UNAUTHORIZED,
            "missing admin token (Authorization: Bearer …)",
        )
        .into_response(),
        Some(token) if !authorized(std::slice::from_ref(&token), expected.expose()) => {
            error(StatusCode::UNAUTHORIZED, "wrong admin token").into_response()
        }
        Some(_) => next.run(request).await,
    }
}

/// A tenant as the admin API shows it.
#[derive(Debug, Serialize)]
struct TenantView {
    id: String,
    status: &'static str,
    plugin_path: String,
    plugin: Option<Value>,
    last_error: Option<String>,
    last_error_at_ms: Option<i64>,
    failed_loads: u64,
    swaps: u64,
    backlog_events: usize,
}

fn view(tenant: &Tenant) -> TenantView {
    let status = tenant.status();
    let plugin = tenant.plugin.load_full().map(|plugin| {
        let info = plugin.info();
        json!({
            "hash": info.hash,
            "size_bytes": info.size_bytes,
            "loaded_at_ms": info.loaded_at.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0),
            "source": info.source,
            "from_cache": info.from_cache,
            "compile_ms": info.compile_time.as_millis() as u64,
            "world": info.world,
        })
    });
    TenantView {
        id: tenant.id().to_owned(),
        status: match (&plugin, &status.last_error) {
            (None, _) => "no_plugin",
            (Some(_), Some(_)) => "last_load_failed",
            (Some(_), None) => "ok",
        },
        plugin_path: tenant.profile().plugin_path().display().to_string(),
        plugin,
        last_error: status.last_error,
        last_error_at_ms: status.last_error_at_ms,
        failed_loads: status.failed_loads,
        swaps: status.swaps,
        backlog_events: tenant.backlog(),
    }
}

async fn list_tenants(State(state): State<AppState>) -> Json<Vec<TenantView>> {
    let tenants = state.tenants.all();
    let mut views: Vec<TenantView> = tenants.values().map(|t| view(t)).collect();
    views.sort_by(|a, b| a.id.cmp(&b.id));
    Json(views)
}

fn find(state: &AppState, id: &str) -> Result<std::sync::Arc<Tenant>, ApiError> {
    state
        .tenants
        .get(id)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("unknown tenant {id:?}")))
}

/// `GET /admin/tenants/{id}`: the tenant as [`list_tenants`] shows it, with the version each
/// replica serves (`replicas`: this one alone unless storage is shared) and, with shared
/// storage, the version last published for all of them.
async fn show_tenant(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let tenant = find(&state, &id)?;
    let mut value = serde_json::to_value(view(&tenant)).unwrap_or_default();
    let storage = state.dispatcher.storage();
    let here = state.registry.replica().to_owned();
    let serving = tenant.plugin.load().as_ref().map(|p| p.info().hash.clone());
    if storage.exclusive() {
        value["replicas"] = json!([{ "replica": here, "hash": serving, "this": true }]);
        return Ok(Json(value).into_response());
    }
    let unavailable =
        |e: anyhow::Error| error(StatusCode::SERVICE_UNAVAILABLE, format!("storage: {e:#}"));
    let published = storage
        .published_plugins()
        .await
        .map_err(unavailable)?
        .into_iter()
        .find(|p| p.tenant == id);
    let replicas = storage.serving(&id).await.map_err(unavailable)?;
    value["published"] = published.map_or(
        Value::Null,
        |p| json!({ "hash": p.hash, "source": p.source, "published_at_ms": p.published_at_ms }),
    );
    value["replicas"] = replicas
        .into_iter()
        .map(|r| {
            json!({
                "replica": r.replica, "hash": r.hash, "seen_at_ms": r.seen_at_ms,
                "this": r.replica == here,
            })
        })
        .collect();
    Ok(Json(value).into_response())
}

async fn list_versions(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let tenant = find(&state, &id)?;
    let current = tenant.plugin.load().as_ref().map(|p| p.info().hash.clone());
    let versions: Vec<Value> = state
        .registry
        .versions(&id)
        .into_iter()
        .rev()
        .map(|v| {
            let mut value = serde_json::to_value(&v).unwrap_or_default();
            value["current"] = json!(current.as_deref() == Some(v.hash.as_str()));
            value
        })
        .collect();
    Ok(Json(json!({ "tenant": id, "current": current, "versions": versions })).into_response())
}

fn swap_response(result: Result<SwapOutcome, SwapError>) -> Answer {
    match result {
        Ok(outcome) => Ok(Json(outcome).into_response()),
        Err(SwapError::Refused(reason)) => Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("plugin refused; the previous version keeps serving: {reason}"),
        )),
        Err(SwapError::NoVersion(reason)) => Err(error(StatusCode::CONFLICT, reason)),
        Err(SwapError::Io(reason)) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, reason)),
        Err(SwapError::Unavailable(reason)) => Err(error(StatusCode::SERVICE_UNAVAILABLE, reason)),
    }
}

async fn upload_plugin(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Answer {
    let tenant = find(&state, &id)?;
    let bytes = plugin_body(&state, body).await?;
    swap_response(state.registry.upload(&tenant, bytes).await)
}

/// A component in a request body, within `server.max_plugin_mib`.
async fn plugin_body(state: &AppState, body: Body) -> Result<Vec<u8>, ApiError> {
    match to_bytes(body, state.max_plugin_bytes).await {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(_) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the plugin is larger than {} bytes (server.max_plugin_mib)",
                state.max_plugin_bytes
            ),
        )),
    }
}

async fn rollback(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let tenant = find(&state, &id)?;
    swap_response(state.registry.rollback(&tenant).await)
}

async fn reload(State(state): State<AppState>) -> Answer {
    match super::reload(&state).await {
        Ok(report) => Ok(Json(report).into_response()),
        Err(e) => Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("configuration not reloaded, nothing changed: {e:#}"),
        )),
    }
}

async fn list_dead_letters(State(state): State<AppState>) -> Answer {
    match state.dispatcher.dead_letters().await {
        Ok(letters) => Ok(Json(
            letters
                .into_iter()
                .map(|l| {
                    json!({
                        "id": l.id, "tenant": l.tenant, "session_id": l.session_id,
                        "activity": l.name, "attempts": l.attempts,
                        "first_failure_ms": l.first_failure_ms, "last_error": l.last_error,
                        "body": serde_json::from_str::<Value>(&l.body).unwrap_or(Value::String(l.body.clone())),
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response()),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))),
    }
}

/// `?id=N` for one dead letter, `?all=true` for every one.
#[derive(Debug, Deserialize)]
struct Selection {
    id: Option<i64>,
    #[serde(default)]
    all: bool,
}

impl Selection {
    fn target(&self) -> Result<Option<i64>, ApiError> {
        match (self.id, self.all) {
            (Some(id), false) => Ok(Some(id)),
            (None, true) => Ok(None),
            _ => Err(error(
                StatusCode::BAD_REQUEST,
                "give either ?id=N or ?all=true",
            )),
        }
    }
}

async fn retry_dead_letters(
    State(state): State<AppState>,
    Query(selection): Query<Selection>,
) -> Answer {
    let target = selection.target()?;
    match state.dispatcher.retry_dead(target).await {
        Ok(0) if target.is_some() => {
            Err(error(StatusCode::NOT_FOUND, "no dead letter with that id"))
        }
        Ok(count) => Ok(Json(json!({ "retried": count })).into_response()),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))),
    }
}

async fn drop_dead_letters(
    State(state): State<AppState>,
    Query(selection): Query<Selection>,
) -> Answer {
    let target = selection.target()?;
    match state.dispatcher.drop_dead(target).await {
        Ok(0) if target.is_some() => {
            Err(error(StatusCode::NOT_FOUND, "no dead letter with that id"))
        }
        Ok(count) => Ok(Json(json!({ "dropped": count })).into_response()),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))),
    }
}
