//! [`ClientAddr`]: where a request came from, for the per-address sign-in and registration
//! throttles and the audit log.
//!
//! It is the TCP peer address, as `server` serves the router with
//! `into_make_service_with_connect_info::<SocketAddr>()`. No proxy header (`Forwarded`,
//! `X-Forwarded-For`) is trusted: behind a reverse proxy every client would share the proxy's
//! address, which is safe (limits get stricter, never looser) but coarse. Trusting a header
//! needs a configured list of proxies, which kassa does not have yet.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;
use kassa_identity::ClientInfo;

use crate::problem::ApiError;

/// The TCP peer address of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// As identity's throttles want it.
    pub fn info(self) -> ClientInfo {
        ClientInfo { addr: self.0 }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // axum's extractor also finds the `MockConnectInfo` tests install.
        match ConnectInfo::<SocketAddr>::from_request_parts(parts, state).await {
            Ok(ConnectInfo(addr)) => Ok(ClientAddr(addr.ip())),
            // Only a server wired without connection info gets here: our bug, not the client's.
            Err(rejection) => Err(ApiError::internal(rejection)),
        }
    }
}
