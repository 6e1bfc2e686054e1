//! Our extractors: axum's [`Json`], [`Path`] and [`Query`] with rejections that are problems.
//!
//! Handlers use these instead of axum's, so malformed input comes out as `application/problem+json`
//! with a stable code, and data errors name the offending field by JSON pointer:
//!
//! | input                                            | status | code                      |
//! |--------------------------------------------------|--------|---------------------------|
//! | body without `application/json` content type     | 415    | `unsupported_media_type`  |
//! | body over `ApiConfig::body_limit_bytes`          | 413    | `payload_too_large`       |
//! | body that is not JSON (syntax error, cut short)  | 400    | `malformed_request`       |
//! | JSON of the wrong shape or a refused value       | 422    | `validation_failed`       |
//! | path segment that does not parse                 | 404    | `invalid_path_parameter`  |
//! | query parameter of the wrong shape               | 422    | `validation_failed`       |
//! | query string that is not UTF-8 once decoded      | 400    | `malformed_request`       |
//!
//! "Refused value" includes a domain newtype's `serde(try_from)` failing, e.g. a `Quantity` of 0:
//! the newtype's error message becomes the field error's message.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_path_to_error::Segment;

use crate::problem::{
    ApiError, FieldError, INVALID_PATH_PARAMETER, MALFORMED_REQUEST, PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
};

/// A JSON request body (as an extractor) or response body (as a response).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !has_json_content_type(request.headers()) {
            return Err(ApiError::new(
                &UNSUPPORTED_MEDIA_TYPE,
                "Send the body as JSON with `Content-Type: application/json`.",
            ));
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        &PAYLOAD_TOO_LARGE,
                        "The request body is larger than allowed.",
                    )
                } else {
                    ApiError::new(&MALFORMED_REQUEST, "The request body could not be read.")
                        .with_source(rejection)
                }
            })?;
        parse_json(&body).map(Json)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => {
                let mut response = body.into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
            Err(error) => ApiError::internal(error).into_response(),
        }
    }
}

/// `application/json` or any `application/<something>+json`, parameters ignored.
fn has_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON document into `T`, with the problems described in the module docs. Public for
/// bodies that arrive some other way (a webhook's raw bytes after its signature is checked).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(json_error)?;
    deserializer.end().map_err(|e| malformed_json(&e))?;
    Ok(value)
}

fn json_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let pointer = json_pointer(error.path());
    let inner = error.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let message = message_without_position(&inner);
            ApiError::validation(vec![field_error(pointer, message)])
        }
        _ => malformed_json(&inner),
    }
}

fn malformed_json(error: &serde_json::Error) -> ApiError {
    ApiError::new(
        &MALFORMED_REQUEST,
        format!("The request body is not valid JSON: {error}."),
    )
}

/// serde_json's message without its " at line L column C" suffix, which means little to a client
/// that gets a pointer instead.
fn message_without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&suffix) {
        Some(message) => message.to_owned(),
        None => text,
    }
}

/// serde reports a missing field at its parent; point at the field itself. The message shape is
/// serde's own `de::Error::missing_field`, which every format here uses.
fn field_error(mut pointer: String, message: String) -> FieldError {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'));
    if let Some(name) = missing {
        push_token(&mut pointer, name);
    }
    FieldError { pointer, message }
}

/// The RFC 6901 pointer for a serde path: `""` for the root, `/lines/0/quantity` below it.
pub fn json_pointer(path: &serde_path_to_error::Path) -> String {
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => push_token(&mut pointer, &index.to_string()),
            Segment::Map { key } => push_token(&mut pointer, key),
            Segment::Enum { variant } => push_token(&mut pointer, variant),
            // A non-string map key: the pointer stops at the map, which is still the nearest
            // thing the client can find.
            Segment::Unknown => break,
        }
    }
    pointer
}

/// Appends `/token`, escaping `~` as `~0` and `/` as `~1` (in that order, per RFC 6901).
fn push_token(pointer: &mut String, token: &str) {
    pointer.push('/');
    pointer.push_str(&token.replace('~', "~0").replace('/', "~1"));
}

/// Path parameters. Any segment that does not parse answers 404 `invalid_path_parameter`, with
/// a detail that does not say why, so probing learns nothing about the id format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            // A route declared without the parameters its handler asks for: our bug.
            Err(rejection) if rejection.status().is_server_error() => {
                Err(ApiError::internal(rejection))
            }
            Err(rejection) => {
                tracing::debug!(reason = %rejection.body_text(), "path parameter refused");
                Err(ApiError::new(
                    &INVALID_PATH_PARAMETER,
                    "The requested resource does not exist.",
                ))
            }
        }
    }
}

/// Query parameters. A parameter of the wrong shape answers 422 with pointer `/<name>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or("")).map(Query)
    }
}

/// Parses a raw query string (without `?`) into `T`.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    if !query_decodes_to_utf8(query) {
        return Err(ApiError::new(
            &MALFORMED_REQUEST,
            "The query string is not valid UTF-8 once percent-decoded.",
        ));
    }
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let pointer = json_pointer(error.path());
        let message = error.into_inner().to_string();
        ApiError::validation(vec![field_error(pointer, message)])
    })
}

/// form_urlencoded replaces undecodable bytes silently; we would rather refuse the request than
/// look up a mangled value. A `%` not followed by two hex digits stays literal, as it does there.
fn query_decodes_to_utf8(query: &str) -> bool {
    let bytes = query.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(&[high, low])) => hex_value(high).zip(hex_value(low)),
            _ => None,
        };
        match escaped {
            Some((high, low)) => {
                decoded.push(high << 4 | low);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|v| u8::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kassa_kernel::Quantity;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Order {
        lines: Vec<Line>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Line {
        #[allow(dead_code)]
        sku: String,
        #[allow(dead_code)]
        quantity: Quantity,
    }

    fn refused<T: std::fmt::Debug>(result: Result<T, ApiError>) -> ApiError {
        match result {
            Ok(value) => panic!("expected an error, got {value:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn a_well_formed_body_parses() {
        let order: Order = parse_json(br#"{"lines":[{"sku":"A","quantity":2}]}"#)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(order.lines.len(), 1);
    }

    #[test]
    fn a_refused_newtype_value_points_at_its_field() {
        let error = refused(parse_json::<Order>(
            br#"{"lines":[{"sku":"A","quantity":0}]}"#,
        ));
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.field_errors()[0].pointer, "/lines/0/quantity");
        assert_eq!(
            error.field_errors()[0].message,
            "quantity must be at least 1"
        );
    }

    #[test]
    fn an_unknown_field_points_at_itself() {
        let error = refused(parse_json::<Order>(
            br#"{"lines":[{"sku":"A","quantity":1,"colour":"red"}]}"#,
        ));
        assert_eq!(error.problem().code, "validation_failed");
        assert_eq!(error.field_errors()[0].pointer, "/lines/0/colour");
    }

    #[test]
    fn a_missing_field_points_at_where_it_should_be() {
        let error = refused(parse_json::<Order>(br#"{"lines":[{"sku":"A"}]}"#));
        assert_eq!(error.field_errors()[0].pointer, "/lines/0/quantity");
        assert_eq!(error.field_errors()[0].message, "missing field `quantity`");
    }

    #[test]
    fn a_wrong_type_is_a_validation_error_without_position() {
        let error = refused(parse_json::<Order>(br#"{"lines":"many"}"#));
        assert_eq!(error.field_errors()[0].pointer, "/lines");
        assert!(!error.field_errors()[0].message.contains("column"));
    }

    #[test]
    fn syntax_errors_truncation_and_trailing_garbage_are_malformed() {
        for body in [
            &br#"{"lines":[}"#[..],
            br#"{"lines":["#,
            b"",
            br#"{"lines":[]} x"#,
        ] {
            let error = refused(parse_json::<Order>(body));
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{body:?}");
            assert!(error.field_errors().is_empty());
        }
    }

    #[test]
    fn pointer_tokens_escape_tilde_and_slash() {
        let mut pointer = String::new();
        push_token(&mut pointer, "a/b~c");
        assert_eq!(pointer, "/a~1b~0c");
        let error = refused(parse_json::<std::collections::HashMap<String, u8>>(
            br#"{"x/~y": 300}"#,
        ));
        assert_eq!(error.field_errors()[0].pointer, "/x~1~0y");
    }

    #[test]
    fn json_content_types_are_recognised() {
        let accepts = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            has_json_content_type(&headers)
        };
        assert!(accepts("application/json"));
        assert!(accepts("Application/JSON; charset=utf-8"));
        assert!(accepts("application/merge-patch+json"));
        assert!(!accepts("text/plain"));
        assert!(!accepts("application/jsonx"));
        assert!(!has_json_content_type(&HeaderMap::new()));
    }

    #[derive(Debug, Deserialize)]
    struct Page {
        limit: Option<u32>,
        #[allow(dead_code)]
        cursor: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    struct Search {
        #[allow(dead_code)]
        q: String,
    }

    #[test]
    fn query_parameters_parse_and_wrong_ones_name_themselves() {
        let page: Page = parse_query("limit=5&cursor=abc").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(page.limit, Some(5));

        let error = refused(parse_query::<Page>("limit=many"));
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.field_errors()[0].pointer, "/limit");

        let error = refused(parse_query::<Search>(""));
        assert_eq!(error.field_errors()[0].pointer, "/q");
    }

    #[test]
    fn a_query_that_is_not_utf8_once_decoded_is_malformed() {
        let error = refused(parse_query::<Page>("cursor=%FF"));
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert!(query_decodes_to_utf8("cursor=%C3%A9&x=100%"));
    }
}
