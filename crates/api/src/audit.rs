//! The staff audit log, kept by one middleware ([`record_staff_changes`]) rather than by each
//! handler: every `/v1/admin` request that may change something (any method but GET and HEAD),
//! answered 2xx for an authenticated staff member, is recorded through
//! [`IdentityService::record_audit`](kassa_identity::IdentityService::record_audit) with who
//! (the staff id), what (`METHOD /route/{template}`), which resource (the request path), from
//! where (the TCP peer address) and the request id.
//!
//! Who acted is known only once the handler's [`Staff`](crate::auth::Staff) extractor has
//! authenticated the request, after the middleware handed the request on. So the middleware
//! puts an empty [`AuditActor`] into the request's extensions, the extractor fills it, and the
//! middleware reads it when the response comes back. A request that never reaches a staff
//! extractor (401, 403, a malformed path) leaves it empty and is not recorded; neither is a
//! refusal (4xx) or a failure (5xx), since nothing changed.
//!
//! The entry is written after the handler's own transaction committed, so the two are not
//! atomic: if the audit write fails, the change stands, the client gets its 2xx, and the
//! failure is logged at error level with the request id and staff id, for an operator to
//! reconstruct the entry from the request log.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::RequestExt;
use http::Method;
use kassa_identity::AuditRecord;
use kassa_kernel::ids::StaffId;

use crate::problem::source_chain;
use crate::request_id::RequestId;
use crate::state::AppState;

/// Where staff routes live; only their requests are audited.
const ADMIN_PREFIX: &str = "/v1/admin/";

/// The staff member a request was authenticated as, filled in by the
/// [`Staff`](crate::auth::Staff) extractor. Shared between the request's extensions and the
/// middleware, which keeps a clone.
#[derive(Debug, Clone, Default)]
pub struct AuditActor(Arc<OnceLock<StaffId>>);

impl AuditActor {
    /// Records who acted. A handler with two staff extractors names the same member twice;
    /// the first one stays.
    pub fn set(&self, staff: StaffId) {
        let _ = self.0.set(staff);
    }

    pub fn get(&self) -> Option<StaffId> {
        self.0.get().copied()
    }
}

/// Whether a request is one whose success must be audited.
fn is_audited(method: &Method, path: &str) -> bool {
    path.starts_with(ADMIN_PREFIX) && method != Method::GET && method != Method::HEAD
}

/// Middleware: see the [module documentation](self).
pub async fn record_staff_changes(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if !is_audited(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let actor = AuditActor::default();
    request.extensions_mut().insert(actor.clone());
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |m| m.as_str().to_owned(),
    );
    let action = format!("{} {route}", request.method());
    let resource = request.uri().path().to_owned();
    let client_addr = request
        .extract_parts::<ConnectInfo<SocketAddr>>()
        .await
        .ok()
        .map(|info| info.0.ip());
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(RequestId::to_string);

    let response = next.run(request).await;

    let Some(staff) = actor.get().filter(|_| response.status().is_success()) else {
        return response;
    };
    let record = AuditRecord {
        staff,
        action,
        resource,
        client_addr,
        request_id,
    };
    if let Err(err) = state.identity.record_audit(record).await {
        tracing::error!(
            request_id = %crate::request_id::current(),
            staff_id = %staff,
            error = %source_chain(&err),
            "a staff change was committed but its audit entry could not be recorded"
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admin_requests_that_can_change_something_are_audited() {
        assert!(is_audited(&Method::POST, "/v1/admin/products"));
        assert!(is_audited(&Method::DELETE, "/v1/admin/tax-rates/DE"));
        assert!(is_audited(&Method::PATCH, "/v1/admin/staff/staff_1"));
        assert!(!is_audited(&Method::GET, "/v1/admin/products"));
        assert!(!is_audited(&Method::HEAD, "/v1/admin/products"));
        assert!(!is_audited(&Method::POST, "/v1/carts"));
        assert!(!is_audited(&Method::DELETE, "/v1/sessions"));
    }

    #[test]
    fn the_first_actor_named_stays() {
        let actor = AuditActor::default();
        assert_eq!(actor.get(), None);
        let first = StaffId::new();
        actor.set(first);
        actor.set(StaffId::new());
        assert_eq!(actor.get(), Some(first));
        assert_eq!(actor.clone().get(), Some(first));
    }
}
