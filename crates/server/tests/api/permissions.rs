//! The permission matrix of docs/API.md ("Staff" → "Permission matrix"), read from the guide at
//! run time and checked row by row, for every role, against the running server; and the rule
//! that only staff tokens open `/v1/admin`.
//!
//! Support may issue refunds (their row says yes); the per-currency cap on top of the
//! permission answers 403 `refund_cap_exceeded`, a different code, checked by the refund route
//! (`kassa_api::routes::orders::staff`, whose unit test covers it).

use std::collections::{BTreeSet, HashMap};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{fill_path, id_of, variant_body, TestApp};
use crate::identity_helpers::{create_staff, new_customer, new_staff, with_bearer, PASSWORD};

const API_GUIDE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/API.md");

/// The one staff route outside the matrix: signing in needs no permission.
const STAFF_SIGN_IN: (&str, &str) = ("POST", "/v1/admin/sessions");

/// The roles, in the matrix's column order.
const ROLES: [&str; 3] = ["owner", "manager", "support"];

/// One row of the matrix: a route and whether each role of [`ROLES`] may call it.
#[derive(Debug, Clone)]
struct Row {
    method: String,
    template: String,
    allowed: [bool; 3],
}

/// The rows of the "Permission matrix" table in docs/API.md, read now (not at build time), so
/// the guide as it stands is what gets tested.
fn permission_matrix() -> Vec<Row> {
    let guide = std::fs::read_to_string(API_GUIDE_PATH)
        .unwrap_or_else(|e| panic!("read {API_GUIDE_PATH}: {e}"));
    let (_, section) = guide
        .split_once("### Permission matrix")
        .expect("docs/API.md has a \"Permission matrix\" section");
    let table: Vec<&str> = section
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .collect();
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|cell| cell.trim().to_owned())
            .collect()
    };
    assert!(table.len() > 2, "the permission matrix has no rows");
    assert_eq!(
        cells(table[0]),
        ["route", "permission", "owner", "manager", "support"],
        "the permission matrix's columns changed"
    );
    assert!(
        cells(table[1])
            .iter()
            .all(|c| c.chars().all(|ch| ch == '-')),
        "no separator under the matrix's header"
    );
    table[2..]
        .iter()
        .map(|line| {
            let cells = cells(line);
            assert_eq!(cells.len(), 5, "a matrix row without 5 cells: {line}");
            let route = cells[0].trim_matches('`');
            let (method, template) = route
                .split_once(' ')
                .unwrap_or_else(|| panic!("not `METHOD /path`: {line}"));
            assert!(!cells[1].is_empty(), "a row without a permission: {line}");
            let allowed = [2, 3, 4].map(|i| match cells[i].as_str() {
                "yes" => true,
                "no" => false,
                other => panic!("{other:?} is neither yes nor no: {line}"),
            });
            Row {
                method: method.to_owned(),
                template: template.to_owned(),
                allowed,
            }
        })
        .collect()
}

/// Every `/v1/admin` route the router serves, but staff sign-in.
fn staff_routes(app: &TestApp) -> BTreeSet<(String, String)> {
    app.route_table
        .entries()
        .iter()
        .filter(|(method, path)| {
            path.starts_with("/v1/admin") && (method.as_str(), path.as_str()) != STAFF_SIGN_IN
        })
        .cloned()
        .collect()
}

/// `template` with its parameters taken from `resources`, or well-formed ids naming nothing.
fn fill(template: &str, resources: &HashMap<&str, String>) -> String {
    template
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => resources
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| fill_path(segment)),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// A plausible body for a staff route; `n` keeps handles, SKUs and emails unique per call.
fn body_for(method: &str, template: &str, n: usize) -> Option<Value> {
    let body = match (method, template) {
        ("POST", "/v1/admin/products") => json!({
            "handle": format!("matrix-{n}"),
            "title": "Matrix",
            "variants": [variant_body(&format!("MATRIX-{n}"), &[(1000, "EUR")], 100)],
        }),
        ("PATCH", "/v1/admin/products/{product_id}") => json!({"title": format!("Renamed {n}")}),
        ("POST", "/v1/admin/products/{product_id}/variants") => {
            variant_body(&format!("MATRIX-V{n}"), &[(1200, "EUR")], 100)
        }
        ("PATCH", "/v1/admin/variants/{variant_id}") => json!({"title": format!("Variant {n}")}),
        ("PUT", "/v1/admin/variants/{variant_id}/prices/{currency}") => {
            json!({"amount_minor": 1500 + n})
        }
        ("POST", "/v1/admin/categories") => {
            json!({"handle": format!("matrix-{n}"), "name": format!("Matrix {n}")})
        }
        ("POST", "/v1/admin/shipping-options") => json!({
            "name": format!("Matrix {n}"),
            "countries": ["DE"],
            "currency": "EUR",
            "flat_amount_minor": 490,
        }),
        ("PUT", "/v1/admin/tax-rates/{country}") => json!({"rate": "19"}),
        ("POST", "/v1/admin/staff") => json!({
            "email": format!("matrix{n}@example.com"),
            "password": PASSWORD,
            "role": "support",
        }),
        ("PATCH", "/v1/admin/staff/{staff_id}") => json!({"role": "support"}),
        ("GET" | "DELETE", _) => return None,
        (_, path) if path.ends_with("/archive") => return None,
        _ => json!({}),
    };
    Some(body)
}

/// A request with a bearer token and an `Idempotency-Key` unique to `n`. The routes that move
/// money or stock require the key before anything else (400 without it), so every request
/// carries one: what the matrix checks is the permission, answered once the key is accepted.
async fn staff_call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
    n: usize,
) -> crate::helpers::TestResponse {
    let auth = format!("Bearer {token}");
    let key = format!("matrix-{n}");
    app.send(
        method,
        path,
        body,
        &[("authorization", &auth), ("idempotency-key", &key)],
    )
    .await
}

#[tokio::test]
async fn the_permission_matrix_lists_every_staff_route_the_router_serves_and_no_other() {
    // Arrange
    let app = TestApp::spawn().await;
    let rows = permission_matrix();

    // Act
    let listed: Vec<(String, String)> = rows
        .iter()
        .map(|row| (row.method.clone(), row.template.clone()))
        .collect();
    let matrix: BTreeSet<(String, String)> = listed.iter().cloned().collect();
    let served = staff_routes(&app);

    // Assert
    assert_eq!(matrix.len(), listed.len(), "a route is listed twice");
    let unlisted: Vec<_> = served.difference(&matrix).collect();
    let unserved: Vec<_> = matrix.difference(&served).collect();
    assert!(
        unlisted.is_empty() && unserved.is_empty(),
        "staff routes missing from the permission matrix: {unlisted:?}; \
         matrix rows the router does not serve: {unserved:?}"
    );
    assert!(app.route_table.contains(&Method::POST, STAFF_SIGN_IN.1));
    // Owners may do everything.
    for row in &rows {
        assert!(
            row.allowed[0],
            "owner may not {} {}",
            row.method, row.template
        );
    }
}

#[tokio::test]
async fn every_row_of_the_permission_matrix_holds_for_every_role_on_the_live_server() {
    // Arrange: products with a variant, a shipping option and a staff member to act on, and
    // one signed-in member per role. The archive routes get a product of their own, so the
    // other rows act on an active one.
    let app = TestApp::spawn().await;
    let active = app
        .create_product(
            "matrix-tee",
            "Tee",
            &[("MATRIX-TEE", &[(2500, "EUR")], 180)],
        )
        .await;
    let to_archive = app
        .create_product("matrix-cap", "Cap", &[("MATRIX-CAP", &[(900, "EUR")], 100)])
        .await;
    let option = app
        .create_flat_shipping_option("DHL", &["DE"], "EUR", 490)
        .await;
    let target = create_staff(&app, "target@example.com", "support").await;
    let resources_of = |product: &Value| -> HashMap<&str, String> {
        HashMap::from([
            ("product_id", id_of(product)),
            (
                "variant_id",
                product["variants"][0]["id"]
                    .as_str()
                    .expect("a variant")
                    .to_owned(),
            ),
            ("shipping_option_id", option.clone()),
            ("staff_id", id_of(&target)),
            ("currency", "EUR".to_owned()),
            ("country", "DE".to_owned()),
        ])
    };
    let resources = resources_of(&active);
    let archive_resources = resources_of(&to_archive);
    let mut tokens = Vec::new();
    for role in ROLES {
        let (_, signed_in) = new_staff(&app, &format!("{role}@example.com"), role).await;
        tokens.push(signed_in.access);
    }
    let rows = permission_matrix();
    let mut failures = Vec::new();
    let mut n = 0;

    for row in &rows {
        let method = Method::from_bytes(row.method.as_bytes()).expect("a method");
        let path = if row.template.ends_with("/archive") {
            fill(&row.template, &archive_resources)
        } else {
            fill(&row.template, &resources)
        };
        // Refused roles first, while every resource still exists: what they see must not
        // depend on an allowed role's DELETE or archive just before.
        let mut order: Vec<usize> = (0..ROLES.len()).collect();
        order.sort_by_key(|&i| row.allowed[i]);
        for i in order {
            n += 1;
            let body = body_for(&row.method, &row.template, n);

            // Act
            let res = staff_call(&app, method.clone(), &path, &tokens[i], body.as_ref(), n).await;

            // Assert
            let status = res.status.as_u16();
            let what = format!("{} {} {path} as {}", row.method, row.template, ROLES[i]);
            if row.allowed[i] {
                if status == 401 || status == 403 || status >= 500 {
                    failures.push(format!(
                        "{what}: expected to be let in, got {status} {}",
                        res.body
                    ));
                }
            } else if status != 403
                || res.body["code"] != "forbidden"
                || res.header("content-type") != Some("application/problem+json")
            {
                failures.push(format!(
                    "{what}: expected 403 forbidden, got {status} {}",
                    res.body
                ));
            }
        }
    }
    assert!(rows.len() >= 20, "too few rows: {rows:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_customer_s_token_on_any_staff_route_is_invalid_token_and_no_token_is_unauthorized() {
    // Arrange
    let app = TestApp::spawn().await;
    let customer = new_customer(&app, "ada@example.com").await;
    let routes = staff_routes(&app);
    assert!(routes.len() >= 20, "{routes:?}");
    let mut failures = Vec::new();

    for (n, (method, template)) in routes.iter().enumerate() {
        let path = fill_path(template);
        let body = body_for(method, template, n);
        let method = Method::from_bytes(method.as_bytes()).expect("a method");

        // Act: a customer is not staff, so their token is not a valid staff token.
        let as_customer = staff_call(
            &app,
            method.clone(),
            &path,
            &customer.access,
            body.as_ref(),
            n,
        )
        .await;
        let key = format!("matrix-anonymous-{n}");
        let anonymous = app
            .send(
                method.clone(),
                &path,
                body.as_ref(),
                &[("idempotency-key", &key)],
            )
            .await;

        // Assert
        for (who, res, code) in [
            ("a customer", &as_customer, "invalid_token"),
            ("nobody", &anonymous, "unauthorized"),
        ] {
            if res.status.as_u16() != 401
                || res.body["code"] != code
                || res.header("content-type") != Some("application/problem+json")
            {
                failures.push(format!(
                    "{method} {path} by {who}: expected 401 {code}, got {} {}",
                    res.status, res.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The customer's token still works where it belongs.
    with_bearer(&app, Method::GET, "/v1/me", &customer.access, None)
        .await
        .assert_status(200);
}
