//! Service routes: liveness, readiness, metrics, the OpenAPI document and the problem registry.
//! None of them need authentication; none of them touch a district's service.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue};
use kassa_kernel::ProblemType;
use serde::{Deserialize, Serialize};

use crate::extract::{Json, Path};
use crate::problem::{self, ApiError, Problem, NOT_READY, ROUTE_NOT_FOUND};
use crate::route_table::Routes;
use crate::state::AppState;

/// The media type of the Prometheus text format we render.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn routes() -> Routes {
    Routes::new()
        .get("/healthz", healthz)
        .get("/readyz", readyz)
        .get("/metrics", metrics)
        .get("/v1/openapi.json", openapi_json)
        .get("/problems", list_problem_types)
        .get("/problems/{slug}", get_problem_type)
}

/// Body of `/healthz` and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ServiceStatus {
    #[schema(example = "ok")]
    pub status: String,
}

/// One entry of the problem registry, as served at its `type` URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProblemTypeDto {
    #[serde(rename = "type")]
    #[schema(example = "/problems/insufficient-stock")]
    pub problem_type: String,
    #[schema(example = "Insufficient stock")]
    pub title: String,
    #[schema(example = 409)]
    pub status: u16,
    #[schema(example = "insufficient_stock")]
    pub code: String,
}

impl From<&ProblemType> for ProblemTypeDto {
    fn from(problem: &ProblemType) -> ProblemTypeDto {
        ProblemTypeDto {
            problem_type: problem::type_uri(problem),
            title: problem.title.to_owned(),
            status: problem::status_of(problem).as_u16(),
            code: problem.code.to_owned(),
        }
    }
}

/// The whole registry, in the list convention (one page: `next_cursor` is always `null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProblemTypeList {
    pub items: Vec<ProblemTypeDto>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Liveness: the process answers.
///
/// Never checks dependencies, so a database outage does not get the process restarted.
#[utoipa::path(
    get, path = "/healthz", tag = "service",
    responses((status = 200, description = "The process is alive.", body = ServiceStatus)),
)]
pub async fn healthz() -> Json<ServiceStatus> {
    Json(ServiceStatus {
        status: "ok".to_owned(),
    })
}

/// Readiness: this instance can serve traffic now.
#[utoipa::path(
    get, path = "/readyz", tag = "service",
    responses(
        (status = 200, description = "Ready for traffic.", body = ServiceStatus),
        (status = 503, description = "Not ready; retry after `Retry-After` seconds.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<ServiceStatus>, ApiError> {
    match state.readiness.check().await {
        Ok(()) => Ok(Json(ServiceStatus {
            status: "ready".to_owned(),
        })),
        Err(reason) => {
            tracing::warn!(%reason, "readiness check failed");
            Err(
                ApiError::new(&NOT_READY, "The service is not ready to take traffic.")
                    .with_retry_after(1),
            )
        }
    }
}

/// Request counts and latencies in the Prometheus text format.
#[utoipa::path(
    get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4.",
        body = String, content_type = "text/plain")),
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.metrics.render();
    text.push_str(&crate::metrics::render_gauges(&state.ops.gauges().await));
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROMETHEUS_TEXT),
    );
    response
}

/// This document.
#[utoipa::path(
    get, path = "/v1/openapi.json", tag = "service",
    responses((status = 200, description = "The OpenAPI 3.1 document of this server.", body = Object)),
)]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::openapi())
}

/// Every problem type this server can answer with.
#[utoipa::path(
    get, path = "/problems", tag = "service",
    responses((status = 200, description = "The problem registry.", body = ProblemTypeList)),
)]
pub async fn list_problem_types() -> Json<ProblemTypeList> {
    Json(ProblemTypeList {
        items: problem::registry()
            .into_iter()
            .map(ProblemTypeDto::from)
            .collect(),
        next_cursor: None,
    })
}

/// What a problem `type` URI stands for.
#[utoipa::path(
    get, path = "/problems/{slug}", tag = "service",
    params(("slug" = String, Path, description = "The problem code with `-` for `_`.",
        example = "validation-failed")),
    responses(
        (status = 200, description = "The problem type.", body = ProblemTypeDto),
        (status = 404, description = "No problem type has this slug.",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_problem_type(Path(slug): Path<String>) -> Result<Json<ProblemTypeDto>, ApiError> {
    problem::find_by_slug(&slug)
        .map(|p| Json(ProblemTypeDto::from(p)))
        .ok_or_else(|| ApiError::new(&ROUTE_NOT_FOUND, "No problem type has this slug."))
}
