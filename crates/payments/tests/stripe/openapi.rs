//! Stripe's OpenAPI subset (shared/reference/stripe, unchanged from upstream), a decoder from
//! form bodies back to nested JSON, and a small JSON-schema validator for the features the
//! subset uses: `$ref`, `type`, `properties`, `required`, `additionalProperties`, `items`,
//! `enum`, `anyOf`/`oneOf`/`allOf`, `maxLength`, and Stripe's `nullable`.
//!
//! Two decisions, both as the reference README describes:
//! - `nullable: true` means "null is also allowed" wherever it appears (next to `anyOf`, `enum`
//!   or `$ref` without a `type` too); the strict OpenAPI 3.0.3 reading rejects Stripe's own
//!   fixtures.
//! - A form body carries only text. In [`Mode::Form`] a string is accepted where the schema
//!   says `integer` if it is a decimal integer, `number` if it parses as one, and `boolean` if
//!   it is `true` or `false` — what Stripe's server does with the same text. JSON (responses,
//!   fixtures) is checked strictly in [`Mode::Json`].

use std::path::PathBuf;

use serde_json::{Map, Value};

/// Where the reference data is: `KASSA_STRIPE_REFERENCE_DIR`, else the copy kept in
/// `tests/reference/stripe` (taken unchanged from the project's shared/reference/stripe, with
/// Stripe's MIT licence beside it), so a clean clone anywhere has it.
pub fn reference_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KASSA_STRIPE_REFERENCE_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference/stripe")
}

pub fn load_reference(file: &str) -> Value {
    let path = reference_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "cannot read Stripe reference file {} ({err}); set KASSA_STRIPE_REFERENCE_DIR",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Form,
    Json,
}

pub struct Spec {
    doc: Value,
}

impl Spec {
    pub fn load() -> Spec {
        let doc = load_reference("openapi-subset.json");
        assert_eq!(
            doc["info"]["version"], "2023-08-16",
            "unexpected spec version"
        );
        Spec { doc }
    }

    pub fn component(&self, name: &str) -> &Value {
        let schema = &self.doc["components"]["schemas"][name];
        assert!(schema.is_object(), "no component schema {name}");
        schema
    }

    /// The operation serving `method` on a concrete `path`, and its path template.
    pub fn operation(&self, method: &str, path: &str) -> Option<(String, &Value)> {
        let paths = self.doc["paths"].as_object()?;
        let segments: Vec<&str> = path.split('/').collect();
        paths.iter().find_map(|(template, item)| {
            let parts: Vec<&str> = template.split('/').collect();
            let fits = parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| p == s || (p.starts_with('{') && !s.is_empty()));
            let op = &item[method.to_ascii_lowercase()];
            (fits && op.is_object()).then(|| (template.clone(), op))
        })
    }

    /// Checks a request as the connector sent it: the form body against the operation's
    /// `application/x-www-form-urlencoded` schema, the query against its query parameters.
    pub fn validate_request(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &str,
    ) -> Vec<String> {
        let Some((template, op)) = self.operation(method, path) else {
            return vec![format!("{method} {path}: no such operation in the spec")];
        };
        let mut errors = Vec::new();
        let schema = &op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
        if schema.is_object() {
            match decode_form(body) {
                Ok(decoded) => self.check(
                    schema,
                    &decoded,
                    Mode::Form,
                    &format!("{template}#"),
                    &mut errors,
                ),
                Err(err) => errors.push(format!("{template}: {err}")),
            }
        } else if !body.is_empty() {
            errors.push(format!(
                "{template}: a body was sent but the operation takes none"
            ));
        }
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for (name, _) in form_urlencoded::parse(query.as_bytes()) {
            let base = name.split('[').next().unwrap_or_default().to_owned();
            let known = params
                .iter()
                .any(|p| p["in"] == "query" && p["name"] == base.as_str());
            if !known {
                errors.push(format!("{template}: unknown query parameter {name}"));
            }
        }
        errors
    }

    /// Checks `instance` against `schema`; returns the errors, each with its JSON pointer.
    pub fn validate(&self, schema: &Value, instance: &Value, mode: Mode) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(schema, instance, mode, "", &mut errors);
        errors
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("unsupported $ref {reference}"));
                self.resolve(self.component(name))
            }
            None => schema,
        }
    }

    fn check(
        &self,
        schema: &Value,
        instance: &Value,
        mode: Mode,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let schema = self.resolve(schema);
        if instance.is_null() && schema["nullable"] == true {
            return;
        }
        if let Some(options) = schema["anyOf"].as_array() {
            let fits = options
                .iter()
                .filter(|o| self.fits(o, instance, mode, at))
                .count();
            if fits == 0 {
                errors.push(format!("{at}: matches none of anyOf ({instance})"));
            }
        }
        if let Some(options) = schema["oneOf"].as_array() {
            let fits = options
                .iter()
                .filter(|o| self.fits(o, instance, mode, at))
                .count();
            if fits != 1 {
                errors.push(format!("{at}: matches {fits} of oneOf, not 1"));
            }
        }
        if let Some(all) = schema["allOf"].as_array() {
            for part in all {
                self.check(part, instance, mode, at, errors);
            }
        }
        if let Some(values) = schema["enum"].as_array() {
            if !values.contains(instance) {
                errors.push(format!(
                    "{at}: {instance} is not one of {}",
                    Value::Array(values.clone())
                ));
            }
        }
        if let Some(kind) = schema["type"].as_str() {
            if !type_fits(kind, instance, mode) {
                errors.push(format!("{at}: {instance} is not of type {kind}"));
                return;
            }
        }
        if let (Some(max), Some(text)) = (schema["maxLength"].as_u64(), instance.as_str()) {
            if text.chars().count() as u64 > max {
                errors.push(format!("{at}: longer than {max} characters"));
            }
        }
        if let Some(object) = instance.as_object() {
            self.check_object(schema, object, mode, at, errors);
        }
        if let (Some(items), Some(array)) = (schema.get("items"), instance.as_array()) {
            for (index, item) in array.iter().enumerate() {
                self.check(items, item, mode, &format!("{at}/{index}"), errors);
            }
        }
    }

    fn check_object(
        &self,
        schema: &Value,
        object: &Map<String, Value>,
        mode: Mode,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let properties = schema["properties"].as_object();
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                errors.push(format!("{at}: required property {name} is missing"));
            }
        }
        for (name, value) in object {
            let path = format!("{at}/{name}");
            match properties.and_then(|p| p.get(name)) {
                Some(property) => self.check(property, value, mode, &path, errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errors.push(format!("{path}: unknown property"));
                    }
                    Some(extra @ Value::Object(_)) => self.check(extra, value, mode, &path, errors),
                    _ => {}
                },
            }
        }
    }

    fn fits(&self, schema: &Value, instance: &Value, mode: Mode, at: &str) -> bool {
        let mut errors = Vec::new();
        self.check(schema, instance, mode, at, &mut errors);
        errors.is_empty()
    }
}

fn type_fits(kind: &str, instance: &Value, mode: Mode) -> bool {
    let text = match (mode, instance) {
        (Mode::Form, Value::String(text)) => Some(text.as_str()),
        _ => None,
    };
    match kind {
        "object" => instance.is_object(),
        "array" => instance.is_array(),
        "string" => instance.is_string(),
        "boolean" => instance.is_boolean() || matches!(text, Some("true" | "false")),
        "integer" => {
            instance.is_i64()
                || instance.is_u64()
                || text.is_some_and(|t| {
                    let digits = t.strip_prefix('-').unwrap_or(t);
                    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                })
        }
        "number" => instance.is_number() || text.is_some_and(|t| t.parse::<f64>().is_ok()),
        other => panic!("unsupported schema type {other}"),
    }
}

/// A form body back into nested JSON: `a[b][c]=x` is `{"a":{"b":{"c":"x"}}}`, `a[]=x` appends
/// to a list, `a[0][b]=x` is item 0 of a list. Every leaf is a string.
pub fn decode_form(body: &str) -> Result<Value, String> {
    let mut root = Value::Object(Map::new());
    for (key, value) in form_urlencoded::parse(body.as_bytes()) {
        let (name, rest) = match key.find('[') {
            Some(at) => (&key[..at], &key[at..]),
            None => (key.as_ref(), ""),
        };
        if name.is_empty() {
            return Err(format!("parameter '{key}' has no name"));
        }
        let mut segments = vec![name.to_owned()];
        let mut rest = rest;
        while !rest.is_empty() {
            let inner = rest
                .strip_prefix('[')
                .and_then(|r| r.split_once(']'))
                .ok_or_else(|| format!("malformed brackets in '{key}'"))?;
            segments.push(inner.0.to_owned());
            rest = inner.1;
        }
        insert(&mut root, &segments, value.into_owned(), &key)?;
    }
    Ok(root)
}

fn insert(target: &mut Value, segments: &[String], value: String, key: &str) -> Result<(), String> {
    let Some((first, rest)) = segments.split_first() else {
        return Err(format!("empty key '{key}'"));
    };
    let next_is_list = rest
        .first()
        .is_some_and(|s| s.is_empty() || s.bytes().all(|b| b.is_ascii_digit()));
    let fresh = || {
        if next_is_list {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        }
    };
    let slot: &mut Value = if first.is_empty() {
        let list = target
            .as_array_mut()
            .ok_or(format!("'{key}' mixes [] and names"))?;
        list.push(if rest.is_empty() {
            Value::Null
        } else {
            fresh()
        });
        list.last_mut().ok_or("unreachable")?
    } else if let Some(list) = target.as_array_mut() {
        let index: usize = first
            .parse()
            .map_err(|_| format!("'{key}' mixes lists and names"))?;
        if index > list.len() {
            return Err(format!("'{key}' skips list indices"));
        }
        if index == list.len() {
            list.push(fresh());
        }
        &mut list[index]
    } else {
        let object = target
            .as_object_mut()
            .ok_or(format!("'{key}' mixes lists and names"))?;
        if rest.is_empty() && object.contains_key(first) {
            return Err(format!("'{key}' is given twice"));
        }
        object.entry(first.clone()).or_insert_with(fresh)
    };
    if rest.is_empty() {
        *slot = Value::String(value);
        Ok(())
    } else {
        insert(slot, rest, value, key)
    }
}
