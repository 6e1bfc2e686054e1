//! [`Envelope`]: an event as it travels in a message body, and the subject it travels on.

use kassa_events::{Event, EventId};
use kassa_kernel::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::is_valid_subject;

/// The JSON body of every message on the stream. Fields are only ever added (an old reader
/// ignores what it does not know), like the events themselves; a breaking change would be a new
/// subject prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: EventId,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u32,
    /// The district that recorded the event (`orders`, `inventory`, …).
    pub source: String,
    pub aggregate_id: String,
    /// Milliseconds since the Unix epoch, from the recording district's clock.
    pub occurred_at_ms: i64,
    pub data: serde_json::Value,
}

impl Envelope {
    pub fn new(source: &str, event: &Event) -> Envelope {
        Envelope {
            id: event.id,
            event_type: event.event_type.clone(),
            version: event.version,
            source: source.to_string(),
            aggregate_id: event.aggregate_id.clone(),
            occurred_at_ms: event.occurred_at.millis(),
            data: event.data.clone(),
        }
    }

    /// The source and the event. `published_at` is `None`, as under the in-process bus: it is
    /// the outbox's bookkeeping, not part of the fact.
    pub fn into_event(self) -> (String, Event) {
        let event = Event {
            id: self.id,
            event_type: self.event_type,
            version: self.version,
            aggregate_id: self.aggregate_id,
            occurred_at: Timestamp::from_millis(self.occurred_at_ms),
            data: self.data,
            published_at: None,
        };
        (self.source, event)
    }

    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    pub fn from_json(body: &[u8]) -> Result<Envelope, serde_json::Error> {
        serde_json::from_slice(body)
    }
}

/// `<prefix>.<source>.<event_type>`, or why the source or type cannot be part of a subject (a
/// wildcard or whitespace in it would publish somewhere no consumer filters on).
pub(crate) fn event_subject(
    prefix: &str,
    source: &str,
    event_type: &str,
) -> Result<String, String> {
    if !is_valid_subject(source) || source.contains('.') {
        return Err(format!(
            "source '{source}' must be one subject token (no dots, wildcards or whitespace)"
        ));
    }
    if !is_valid_subject(event_type) {
        return Err(format!(
            "event type '{event_type}' must be dot-separated tokens without wildcards or whitespace"
        ));
    }
    Ok(format!("{prefix}.{source}.{event_type}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Event {
        Event {
            id: EventId::new(),
            event_type: "order.placed".into(),
            version: 2,
            aggregate_id: "ord_1".into(),
            occurred_at: Timestamp::from_millis(1_700_000_000_123),
            data: json!({"total": {"amount_minor": 1999, "currency": "EUR"}}),
            published_at: Some(Timestamp::from_millis(5)),
        }
    }

    #[test]
    fn an_event_survives_the_envelope_round_trip() {
        let original = event();
        let body = Envelope::new("orders", &original).to_json().unwrap();
        let (source, back) = Envelope::from_json(&body).unwrap().into_event();
        assert_eq!(source, "orders");
        assert_eq!(
            back,
            Event {
                published_at: None,
                ..original
            }
        );
    }

    #[test]
    fn the_envelope_has_the_documented_field_names() {
        let original = event();
        let body: serde_json::Value =
            serde_json::from_slice(&Envelope::new("orders", &original).to_json().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "id": original.id.to_string(),
                "type": "order.placed",
                "version": 2,
                "source": "orders",
                "aggregate_id": "ord_1",
                "occurred_at_ms": 1_700_000_000_123_i64,
                "data": {"total": {"amount_minor": 1999, "currency": "EUR"}},
            })
        );
    }

    #[test]
    fn unknown_fields_are_ignored_and_missing_ones_refused() {
        let id = EventId::new();
        let newer = json!({"id": id.to_string(), "type": "a.b", "version": 1, "source": "s",
            "aggregate_id": "x", "occurred_at_ms": 1, "data": null, "trace": "00-ab"});
        assert!(Envelope::from_json(newer.to_string().as_bytes()).is_ok());
        let partial = json!({"id": id.to_string(), "type": "a.b", "version": 1});
        assert!(Envelope::from_json(partial.to_string().as_bytes()).is_err());
        assert!(Envelope::from_json(b"not json").is_err());
        let bad_id = json!({"id": "ord_1", "type": "a.b", "version": 1, "source": "s",
            "aggregate_id": "x", "occurred_at_ms": 1, "data": null});
        assert!(Envelope::from_json(bad_id.to_string().as_bytes()).is_err());
    }

    #[test]
    fn subjects_are_prefix_source_and_type() {
        assert_eq!(
            event_subject("kassa.events", "orders", "order.placed"),
            Ok("kassa.events.orders.order.placed".to_string())
        );
        for (source, event_type) in [
            ("or.ders", "order.placed"),
            ("", "order.placed"),
            ("orders", "order.*"),
            ("orders", "order placed"),
            ("orders", ""),
            ("*", "x"),
        ] {
            assert!(
                event_subject("kassa.events", source, event_type).is_err(),
                "{source:?} {event_type:?}"
            );
        }
    }
}
