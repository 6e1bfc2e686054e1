//! [`Routes`]: the one way routes are added, so the server knows its own route table.
//!
//! Every `routes/<domain>.rs` returns a [`Routes`] built with `.get(path, handler)`,
//! `.post(...)` and friends. Besides adding the handler to an axum router, each call records the
//! (method, path template) pair in a [`RouteTable`], which tests compare with the operations of
//! the OpenAPI document: a route without documentation, or documentation without a route, fails
//! the build's tests instead of surprising a client.
//!
//! Routes that move money or create orders opt in to the `Idempotency-Key` mechanism with
//! [`Routes::post_idempotent`] (or [`Routes::put_idempotent`]) instead of `.post`: the header
//! becomes required there and retries replay the first answer ([`crate::idempotency`]).
//!
//! Several methods on one path merge into one axum method router (axum's `Router::route` merges
//! them), within one `Routes` or across two joined with [`Routes::merge`]. Registering the same
//! method and path twice panics in axum when the router is built, which happens at startup.

use std::collections::BTreeSet;

use axum::handler::Handler;
use axum::routing::{self, MethodRouter};
use axum::Router;
use http::Method;

use crate::idempotency::Idempotent;
use crate::state::AppState;

/// The (METHOD, path template) pairs a router serves, e.g. `("GET", "/problems/{slug}")`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    entries: BTreeSet<(String, String)>,
}

impl RouteTable {
    /// The pairs, sorted by method then path. Methods are upper case.
    pub fn entries(&self) -> &BTreeSet<(String, String)> {
        &self.entries
    }

    pub fn contains(&self, method: &Method, path: &str) -> bool {
        self.entries
            .contains(&(method.as_str().to_owned(), path.to_owned()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn insert(&mut self, method: &Method, path: &str) {
        self.entries
            .insert((method.as_str().to_owned(), path.to_owned()));
    }
}

/// An axum router over [`AppState`] that records what it serves.
#[derive(Debug, Clone)]
pub struct Routes {
    router: Router<AppState>,
    table: RouteTable,
}

impl Default for Routes {
    fn default() -> Routes {
        Routes::new()
    }
}

impl Routes {
    pub fn new() -> Routes {
        Routes {
            router: Router::new(),
            table: RouteTable::default(),
        }
    }

    pub fn get<H, T>(self, path: &str, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::GET, path, routing::get(handler))
    }

    pub fn post<H, T>(self, path: &str, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::POST, path, routing::post(handler))
    }

    pub fn put<H, T>(self, path: &str, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::PUT, path, routing::put(handler))
    }

    pub fn patch<H, T>(self, path: &str, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::PATCH, path, routing::patch(handler))
    }

    pub fn delete<H, T>(self, path: &str, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::DELETE, path, routing::delete(handler))
    }

    /// [`Routes::post`] behind the `Idempotency-Key` middleware ([`crate::idempotency`]): the
    /// header is required, and a retry with the same key and request gets the first answer
    /// replayed instead of running `handler` again. For the routes that move money or create
    /// orders; their OpenAPI operation should document the header.
    pub fn post_idempotent<H, T>(self, path: &str, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::POST, path, routing::post(Idempotent::new(handler)))
    }

    /// [`Routes::put`] behind the `Idempotency-Key` middleware, as [`Routes::post_idempotent`].
    pub fn put_idempotent<H, T>(self, path: &str, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::PUT, path, routing::put(Idempotent::new(handler)))
    }

    /// Joins another module's routes; same paths with different methods merge.
    pub fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.table.entries.extend(other.table.entries);
        self
    }

    pub fn table(&self) -> &RouteTable {
        &self.table
    }

    /// The router (still needing its state and layers) and its table.
    pub fn into_parts(self) -> (Router<AppState>, RouteTable) {
        (self.router, self.table)
    }

    fn add(mut self, method: Method, path: &str, route: MethodRouter<AppState>) -> Routes {
        self.table.insert(&method, path);
        self.router = self.router.route(path, route);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ok() -> &'static str {
        "ok"
    }

    #[test]
    fn each_method_and_path_is_recorded_and_shared_paths_merge() {
        let routes = Routes::new()
            .get("/v1/things", ok)
            .post("/v1/things", ok)
            .merge(
                Routes::new()
                    .put("/v1/things/{thing_id}", ok)
                    .patch("/v1/things/{thing_id}", ok)
                    .delete("/v1/things/{thing_id}", ok)
                    .get("/v1/things/{thing_id}", ok),
            );
        let table = routes.table();
        assert_eq!(table.len(), 6);
        assert!(table.contains(&Method::POST, "/v1/things"));
        assert!(table.contains(&Method::DELETE, "/v1/things/{thing_id}"));
        assert!(!table.contains(&Method::DELETE, "/v1/things"));
    }

    #[test]
    fn idempotent_routes_are_recorded_like_any_other() {
        let routes = Routes::new()
            .post_idempotent("/v1/things", ok)
            .put_idempotent("/v1/things/{thing_id}", ok)
            .get("/v1/things/{thing_id}", ok);
        let table = routes.table();
        assert_eq!(table.len(), 3);
        assert!(table.contains(&Method::POST, "/v1/things"));
        assert!(table.contains(&Method::PUT, "/v1/things/{thing_id}"));
    }
}
