//! The OpenAPI 3.1 document, generated from the code, and a checker for it.
//!
//! Each handler carries `#[utoipa::path(...)]` and each DTO `#[derive(utoipa::ToSchema)]`.
//! [`ApiDoc`] lists the service handlers; each resource module lists its own in a document of
//! its own (`routes::identity::IdentityApi`, `routes::catalog::CatalogApi`,
//! `routes::carts::CartApi`, `routes::orders::OrdersApi`, `routes::inventory::InventoryApi`,
//! `routes::events::EventsApi`, `routes::sandbox::SandboxApi`, `routes::gateway::GatewayApi`,
//! `routes::webhooks::WebhooksApi`), and [`openapi`] merges
//! them, so adding a resource touches one line here. Always use [`openapi`], never
//! `ApiDoc::openapi()` alone: that is only the service routes.
//!
//! [`check_openapi`] finds what would make the document lie or break client generators
//! (dangling `$ref`s, undeclared path parameters, duplicate operation ids), and the tests
//! compare the document's operations with the router's [`RouteTable`](crate::RouteTable), so a
//! route cannot go undocumented.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::money::MoneyDto;
use crate::problem::{FieldError, Problem};
use crate::routes;

/// The security scheme of every `/v1/admin` operation but the staff sign-in: a staff member's
/// access token. utoipa's `security(...)` takes only a literal, so operations write
/// `security(("staff_token" = []))`; a test checks that every admin operation does, and that
/// outside `/v1/admin` it is only ever an alternative to [`CUSTOMER_TOKEN`].
pub const STAFF_TOKEN: &str = "staff_token";

/// The security scheme of customer operations: a customer's access token. Required on
/// `/v1/me…`, optional on cart routes (which take a `Cart-Token` instead).
pub const CUSTOMER_TOKEN: &str = "customer_token";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kassa",
        description = "Commerce backend: catalog, carts, checkout, orders and payments. \
            Errors are RFC 9457 problem documents (`application/problem+json`) whose `type` \
            resolves under `/problems`.",
    ),
    paths(
        routes::service::healthz,
        routes::service::readyz,
        routes::service::metrics,
        routes::service::openapi_json,
        routes::service::list_problem_types,
        routes::service::get_problem_type,
        // Resources list their handlers in their own documents; see `resource_documents`.
    ),
    components(schemas(Problem, FieldError, MoneyDto)),
    modifiers(&BearerSchemes),
    tags(
        (name = "service", description = "Health, readiness, metrics and the API's own documents."),
    ),
)]
pub struct ApiDoc;

/// Declares the [`STAFF_TOKEN`] and [`CUSTOMER_TOKEN`] schemes: both are
/// `Authorization: Bearer <access token>` (see [`crate::auth`]), from a staff or a customer
/// session.
struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, whose) in [(STAFF_TOKEN, "a staff"), (CUSTOMER_TOKEN, "a customer")] {
            let scheme = HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(format!(
                    "The access token of {whose} session (`POST /v1/admin/sessions` or \
                     `POST /v1/sessions`)."
                )))
                .build();
            components.add_security_scheme(name, SecurityScheme::Http(scheme));
        }
    }
}

/// The document served at `/v1/openapi.json`: the service routes and every resource's.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for part in resource_documents() {
        doc.merge(part);
    }
    doc
}

/// One document per resource module, merged into [`ApiDoc`]'s by [`openapi`].
fn resource_documents() -> [utoipa::openapi::OpenApi; 10] {
    [
        routes::identity::IdentityApi::openapi(),
        routes::catalog::CatalogApi::openapi(),
        routes::carts::CartApi::openapi(),
        routes::orders::OrdersApi::openapi(),
        routes::inventory::InventoryApi::openapi(),
        routes::events::EventsApi::openapi(),
        routes::sandbox::SandboxApi::openapi(),
        routes::webhooks::WebhooksApi::openapi(),
        routes::mailbox::MailboxApi::openapi(),
        routes::gateway::GatewayApi::openapi(),
    ]
}

/// The HTTP methods an OpenAPI path item may hold operations under.
const OPERATION_KEYS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The (METHOD, path template) of every operation in `doc`, methods upper case, in the form
/// [`crate::RouteTable::entries`] uses.
pub fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return found;
    };
    for (path, item) in paths {
        for key in OPERATION_KEYS {
            if item.get(key).is_some() {
                found.insert((key.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    found
}

/// Everything wrong with `doc` as an OpenAPI 3.1 document of ours; empty when it is fine.
pub fn check_openapi(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if doc.get("openapi").and_then(Value::as_str) != Some("3.1.0") {
        problems.push(format!(
            "`openapi` is {}, not \"3.1.0\"",
            doc.get("openapi").unwrap_or(&Value::Null)
        ));
    }
    for field in ["title", "version"] {
        let present = doc
            .pointer(&format!("/info/{field}"))
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        if !present {
            problems.push(format!("`info.{field}` is missing"));
        }
    }
    check_paths(doc, &mut problems);
    check_refs(doc, doc, "#", &mut problems);
    problems
}

fn check_paths(doc: &Value, problems: &mut Vec<String>) {
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        problems.push("`paths` is missing".to_owned());
        return;
    };
    let mut operation_ids = HashSet::new();
    for (path, item) in paths {
        if !path.starts_with('/') {
            problems.push(format!("path {path:?} does not start with `/`"));
        }
        let template = template_params(path);
        let shared = path_params(doc, item.get("parameters"));
        for key in OPERATION_KEYS {
            let Some(operation) = item.get(key) else {
                continue;
            };
            let at = format!("{} {path}", key.to_ascii_uppercase());
            match operation.get("operationId").and_then(Value::as_str) {
                None => problems.push(format!("{at} has no operationId")),
                Some(id) if !operation_ids.insert(id.to_owned()) => {
                    problems.push(format!("{at} repeats operationId {id:?}"));
                }
                Some(_) => {}
            }
            let responses = operation.get("responses").and_then(Value::as_object);
            if responses.is_none_or(|r| r.is_empty()) {
                problems.push(format!("{at} declares no response"));
            }
            let mut declared = shared.clone();
            declared.extend(path_params(doc, operation.get("parameters")));
            let declared: BTreeMap<String, bool> = declared.into_iter().collect();
            for (name, _) in declared.iter().filter(|(_, required)| !**required) {
                problems.push(format!(
                    "{at}: path parameter `{name}` is not marked required"
                ));
            }
            let declared: BTreeSet<String> = declared.into_keys().collect();
            for missing in template.difference(&declared) {
                problems.push(format!(
                    "{at}: `{{{missing}}}` is not declared as a path parameter"
                ));
            }
            for extra in declared.difference(&template) {
                problems.push(format!(
                    "{at}: path parameter `{extra}` is not in the template"
                ));
            }
        }
    }
}

/// The `{name}`s of a path template.
fn template_params(path: &str) -> BTreeSet<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_owned)
        .collect()
}

/// (name, `required`) of the `in: path` parameters in a parameter list, following local `$ref`s.
fn path_params(doc: &Value, parameters: Option<&Value>) -> Vec<(String, bool)> {
    let Some(parameters) = parameters.and_then(Value::as_array) else {
        return Vec::new();
    };
    parameters
        .iter()
        .filter_map(|p| match p.get("$ref").and_then(Value::as_str) {
            Some(reference) => resolve(doc, reference),
            None => Some(p),
        })
        .filter(|p| p.get("in").and_then(Value::as_str) == Some("path"))
        .filter_map(|p| {
            let name = p.get("name").and_then(Value::as_str)?;
            let required = p.get("required").and_then(Value::as_bool) == Some(true);
            Some((name.to_owned(), required))
        })
        .collect()
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// Every `$ref` anywhere in the document must be local and point at something.
fn check_refs(doc: &Value, node: &Value, at: &str, problems: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "$ref" {
                    match value.as_str() {
                        Some(reference) if resolve(doc, reference).is_some() => {}
                        _ => problems.push(format!("{at}: $ref {value} does not resolve")),
                    }
                } else {
                    check_refs(doc, value, &format!("{at}/{key}"), problems);
                }
            }
        }
        Value::Array(items) => {
            for (index, value) in items.iter().enumerate() {
                check_refs(doc, value, &format!("{at}/{index}"), problems);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document() -> Value {
        serde_json::to_value(openapi()).unwrap_or_default()
    }

    #[test]
    fn the_generated_document_passes_the_checks() {
        let doc = document();
        assert_eq!(check_openapi(&doc), Vec::<String>::new());
    }

    #[test]
    fn the_route_table_and_the_documented_operations_are_the_same_set() {
        let table = routes::all().table().entries().clone();
        assert_eq!(table, operations(&document()));
    }

    #[test]
    fn money_problem_and_field_error_schemas_are_published() {
        let doc = document();
        let money = &doc["components"]["schemas"]["Money"];
        assert_eq!(money["properties"]["amount_minor"]["type"], "integer");
        assert_eq!(money["properties"]["amount_minor"]["format"], "int64");
        assert_eq!(money["properties"]["currency"]["type"], "string");
        let problem = &doc["components"]["schemas"]["Problem"];
        for member in [
            "type", "title", "status", "detail", "instance", "code", "errors",
        ] {
            assert!(
                problem["properties"].get(member).is_some(),
                "Problem lacks {member}"
            );
        }
        assert!(doc["components"]["schemas"].get("FieldError").is_some());
    }

    /// The one admin operation that needs no token: it is how a staff member gets one.
    const STAFF_SIGN_IN: (&str, &str) = ("POST", "/v1/admin/sessions");

    /// The names of the schemes an operation accepts, one set per alternative; an empty set
    /// is "no token needed".
    fn security_alternatives(operation: &Value) -> Vec<BTreeSet<String>> {
        operation["security"]
            .as_array()
            .map(|alternatives| {
                alternatives
                    .iter()
                    .map(|r| r.as_object().map(|o| o.keys().cloned().collect()))
                    .map(Option::unwrap_or_default)
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn every_admin_operation_but_the_sign_in_requires_the_staff_token() {
        let doc = document();
        for name in [STAFF_TOKEN, CUSTOMER_TOKEN] {
            let scheme = &doc["components"]["securitySchemes"][name];
            assert_eq!(scheme["scheme"], "bearer", "{name}: {scheme}");
        }
        let staff_only: Vec<BTreeSet<String>> = vec![[STAFF_TOKEN.to_owned()].into()];
        for (method, path) in operations(&doc) {
            let operation = &doc["paths"][&path][method.to_ascii_lowercase()];
            let alternatives = security_alternatives(operation);
            let at = format!("{method} {path}: security is {}", operation["security"]);
            if (method.as_str(), path.as_str()) == STAFF_SIGN_IN {
                assert!(alternatives.is_empty(), "{at}");
            } else if path.starts_with("/v1/admin/") {
                assert_eq!(alternatives, staff_only, "{at}");
            } else {
                // Outside /v1/admin a staff token is at most an alternative to a customer's.
                let staff = alternatives.iter().any(|a| a.contains(STAFF_TOKEN));
                let customer = alternatives.iter().any(|a| a.contains(CUSTOMER_TOKEN));
                assert!(!staff || customer, "{at}");
            }
        }
    }

    #[test]
    fn customer_routes_require_the_customer_token_and_cart_routes_accept_it() {
        let doc = document();
        let required: Vec<BTreeSet<String>> = vec![[CUSTOMER_TOKEN.to_owned()].into()];
        for path in ["/v1/me", "/v1/me/cart"] {
            let alternatives = security_alternatives(&doc["paths"][path]["get"]);
            assert_eq!(alternatives, required, "{path}");
        }
        let optional: Vec<BTreeSet<String>> =
            vec![BTreeSet::new(), [CUSTOMER_TOKEN.to_owned()].into()];
        for (method, path) in operations(&doc) {
            if path.starts_with("/v1/carts") {
                let operation = &doc["paths"][&path][method.to_ascii_lowercase()];
                assert_eq!(
                    security_alternatives(operation),
                    optional,
                    "{method} {path}"
                );
            }
        }
    }

    /// `merge` keeps the first schema of a name and silently drops the others, so two modules
    /// naming different DTOs alike would publish one of them wrongly.
    #[test]
    fn no_two_documents_publish_different_schemas_under_one_name() {
        let mut seen: BTreeMap<String, Value> = BTreeMap::new();
        let parts = std::iter::once(ApiDoc::openapi()).chain(resource_documents());
        for part in parts {
            let json = serde_json::to_value(part).unwrap_or_default();
            let Some(schemas) = json["components"]["schemas"].as_object() else {
                continue;
            };
            for (name, schema) in schemas {
                if let Some(previous) = seen.insert(name.clone(), schema.clone()) {
                    assert_eq!(&previous, schema, "two different schemas are named {name}");
                }
            }
        }
        for name in [
            "Product",
            "Category",
            "Cart",
            "ShippingOption",
            "TaxRate",
            "Money",
            "Tokens",
            "StaffMember",
            "AuditEntry",
        ] {
            assert!(seen.contains_key(name), "{name} is not published");
        }
    }

    /// A small valid document the broken variants start from.
    fn minimal() -> Value {
        json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/things/{thing_id}": {
                    "get": {
                        "operationId": "get_thing",
                        "parameters": [{"name": "thing_id", "in": "path", "required": true}],
                        "responses": {"200": {"description": "ok", "content": {"application/json":
                            {"schema": {"$ref": "#/components/schemas/Thing"}}}}}
                    }
                },
                "/things": {
                    "get": {"operationId": "list_things", "responses": {"200": {"description": "ok"}}}
                }
            },
            "components": {"schemas": {"Thing": {"type": "object"}}}
        })
    }

    fn problems_after(change: impl FnOnce(&mut Value)) -> Vec<String> {
        let mut doc = minimal();
        change(&mut doc);
        check_openapi(&doc)
    }

    #[test]
    fn the_minimal_document_is_valid() {
        assert_eq!(check_openapi(&minimal()), Vec::<String>::new());
    }

    #[test]
    fn a_dangling_ref_is_reported() {
        let problems = problems_after(|doc| {
            doc["components"]["schemas"] = json!({});
        });
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("#/components/schemas/Thing"),
            "{problems:?}"
        );
    }

    #[test]
    fn an_undeclared_path_parameter_is_reported() {
        let problems = problems_after(|doc| {
            doc["paths"]["/things/{thing_id}"]["get"]["parameters"] = json!([]);
        });
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("{thing_id}"), "{problems:?}");
    }

    #[test]
    fn a_declared_parameter_missing_from_the_template_is_reported() {
        let problems = problems_after(|doc| {
            doc["paths"]["/things"]["get"]["parameters"] =
                json!([{"name": "thing_id", "in": "path", "required": true}]);
        });
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn a_path_parameter_not_marked_required_is_reported() {
        let problems = problems_after(|doc| {
            doc["paths"]["/things/{thing_id}"]["get"]["parameters"][0]["required"] = json!(false);
        });
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("required"), "{problems:?}");
    }

    #[test]
    fn a_duplicate_operation_id_is_reported() {
        let problems = problems_after(|doc| {
            doc["paths"]["/things"]["get"]["operationId"] = json!("get_thing");
        });
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("get_thing"), "{problems:?}");
    }

    #[test]
    fn version_info_paths_and_responses_are_required() {
        assert!(!problems_after(|doc| doc["openapi"] = json!("3.0.3")).is_empty());
        assert!(!problems_after(|doc| doc["info"] = json!({"title": "t"})).is_empty());
        assert!(!problems_after(|doc| {
            doc["paths"]["/things"]["get"]["responses"] = json!({});
        })
        .is_empty());
        assert!(!problems_after(|doc| {
            let thing = doc["paths"]["/things"].take();
            doc["paths"]["things"] = thing;
        })
        .is_empty());
    }

    #[test]
    fn operations_lists_method_and_template_pairs() {
        let ops = operations(&minimal());
        assert!(ops.contains(&("GET".to_owned(), "/things/{thing_id}".to_owned())));
        assert_eq!(ops.len(), 2);
    }
}
