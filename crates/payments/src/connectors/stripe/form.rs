//! Stripe's request bodies: `application/x-www-form-urlencoded` with bracket notation for nested
//! values (the spec's `style: deepObject, explode: true`): `metadata[order_id]=ord_1`,
//! `payment_method_types[]=card`, and indexed entries for a list of objects
//! (`items[0][price]=…`). Written here rather than taken from a crate because the notation is
//! small and the one thing that must match what Stripe parses.
//!
//! Names are ours (`&'static str`), so they never contain `[`, `]` or `=`; values are any text
//! and are percent-encoded, as are the brackets themselves (`metadata%5Border_id%5D=ord_1`),
//! which is how every form encoder writes them and how Stripe's own libraries send them.

/// One value of a form parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FormValue {
    Text(String),
    /// `name[]=a&name[]=b` for text items, `name[0][key]=…` for nested ones.
    List(Vec<FormValue>),
    /// `name[key]=value`, in the order given.
    Map(Vec<(&'static str, FormValue)>),
}

impl FormValue {
    pub(crate) fn text(value: impl Into<String>) -> FormValue {
        FormValue::Text(value.into())
    }
}

/// A request body under construction: parameters in the order they are added, so the bytes
/// sent for a request are always the same (a retry with the same idempotency key must send
/// the same parameters, or Stripe answers `idempotency_error`).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Form {
    params: Vec<(&'static str, FormValue)>,
}

impl std::fmt::Debug for Form {
    /// Names only: a body holds the shopper's payment-method token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.params.iter().map(|(name, _)| name))
            .finish()
    }
}

impl Form {
    pub(crate) fn new() -> Form {
        Form::default()
    }

    pub(crate) fn text(mut self, name: &'static str, value: impl Into<String>) -> Form {
        self.params.push((name, FormValue::text(value)));
        self
    }

    pub(crate) fn value(mut self, name: &'static str, value: FormValue) -> Form {
        self.params.push((name, value));
        self
    }

    /// The encoded body.
    pub(crate) fn encode(&self) -> String {
        let mut pairs = Vec::new();
        for (name, value) in &self.params {
            flatten((*name).to_owned(), value, &mut pairs);
        }
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (key, value) in &pairs {
            out.append_pair(key, value);
        }
        out.finish()
    }
}

/// Appends the `(key, text)` pairs of `value` under `key`.
fn flatten(key: String, value: &FormValue, pairs: &mut Vec<(String, String)>) {
    match value {
        FormValue::Text(text) => pairs.push((key, text.clone())),
        FormValue::Map(entries) => {
            for (name, inner) in entries {
                flatten(format!("{key}[{name}]"), inner, pairs);
            }
        }
        FormValue::List(items) => {
            for (index, item) in items.iter().enumerate() {
                match item {
                    // `[]` is what the spec's examples use for lists of text.
                    FormValue::Text(text) => pairs.push((format!("{key}[]"), text.clone())),
                    // Nested items need their index, or their keys could not be grouped back.
                    nested => flatten(format!("{key}[{index}]"), nested, pairs),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_parameters_are_percent_encoded_in_order() {
        let body = Form::new()
            .text("amount", "1099")
            .text("currency", "eur")
            .text("return_url", "https://shop.example/back?a=1&b=2 c")
            .encode();
        assert_eq!(
            body,
            "amount=1099&currency=eur&return_url=https%3A%2F%2Fshop.example%2Fback%3Fa%3D1%26b%3D2+c"
        );
    }

    #[test]
    fn maps_use_brackets_and_lists_of_text_empty_brackets() {
        let body = Form::new()
            .value(
                "metadata",
                FormValue::Map(vec![
                    ("order_id", FormValue::text("ord_1")),
                    ("note", FormValue::text("ä=b")),
                ]),
            )
            .value(
                "payment_method_types",
                FormValue::List(vec![FormValue::text("card"), FormValue::text("link")]),
            )
            .encode();
        assert_eq!(
            body,
            "metadata%5Border_id%5D=ord_1&metadata%5Bnote%5D=%C3%A4%3Db\
             &payment_method_types%5B%5D=card&payment_method_types%5B%5D=link"
        );
    }

    #[test]
    fn nested_lists_and_maps_are_indexed_and_deep() {
        let body = Form::new()
            .value(
                "items",
                FormValue::List(vec![
                    FormValue::Map(vec![("price", FormValue::text("p1"))]),
                    FormValue::Map(vec![(
                        "options",
                        FormValue::Map(vec![("size", FormValue::text("M"))]),
                    )]),
                ]),
            )
            .encode();
        assert_eq!(
            body,
            "items%5B0%5D%5Bprice%5D=p1&items%5B1%5D%5Boptions%5D%5Bsize%5D=M"
        );
    }

    #[test]
    fn debug_shows_names_but_no_values() {
        let form = Form::new().text("payment_method", "pm_secret_token");
        let shown = format!("{form:?}");
        assert!(shown.contains("payment_method"), "{shown}");
        assert!(!shown.contains("pm_secret_token"), "{shown}");
    }

    #[test]
    fn an_empty_form_encodes_to_nothing() {
        assert_eq!(Form::new().encode(), "");
        assert_eq!(
            Form::new()
                .value("metadata", FormValue::Map(Vec::new()))
                .encode(),
            ""
        );
    }
}
