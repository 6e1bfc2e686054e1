//! [`NatsConfig`], what it may hold, and [`NatsError`].

use std::time::Duration;

/// Where the bus connects and how its stream is set up. The server builds it from its settings;
/// [`Default`] gives a local server and the stream kassa uses in production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// One server or a comma-separated list, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// The JetStream stream holding every district's events. Created on first connect.
    pub stream: String,
    /// Subjects are `<subject_prefix>.<source>.<event_type>`; the stream listens on
    /// `<subject_prefix>.>`. Dot-separated tokens without wildcards or whitespace.
    pub subject_prefix: String,
    /// How long the server remembers message ids to drop a re-published event. Longer than the
    /// time a relay takes to come back after a crash, so that most re-publishes are dropped;
    /// only used when the stream is created.
    pub duplicate_window: Duration,
    /// How long events stay in the stream, read or not. Only used when the stream is created.
    pub max_age: Duration,
    /// Bound on connecting and on every request to the server (stream and consumer management,
    /// waiting for a publish's or an ack's confirmation).
    pub request_timeout: Duration,
}

/// The stream kassa's events live in unless configured otherwise.
pub const DEFAULT_STREAM: &str = "KASSA_EVENTS";
/// The subject prefix unless configured otherwise.
pub const DEFAULT_SUBJECT_PREFIX: &str = "kassa.events";
/// Two minutes: a relay restarting after a crash publishes again within seconds, well inside it;
/// the server keeps every id of the window in memory, so it is not made much longer.
pub const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(2 * 60);
/// Seven days, the outboxes' own retention (`workers.outbox_retention_hours`): a consumer down
/// for less than that catches up from the stream.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Five seconds: far above a healthy server's round trip, short enough that a relay pass or a
/// start-up does not hang on a dead one.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for NatsConfig {
    fn default() -> NatsConfig {
        NatsConfig {
            url: "nats://127.0.0.1:4222".to_string(),
            stream: DEFAULT_STREAM.to_string(),
            subject_prefix: DEFAULT_SUBJECT_PREFIX.to_string(),
            duplicate_window: DEFAULT_DUPLICATE_WINDOW,
            max_age: DEFAULT_MAX_AGE,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl NatsConfig {
    /// Refuses what the server would refuse later, or would accept and then misbehave with.
    pub(crate) fn validate(&self) -> Result<(), NatsError> {
        if !is_valid_name(&self.stream) {
            return Err(NatsError::InvalidConfig(format!(
                "stream name '{}' must be non-empty, without whitespace, '.', '*', '>', '/' or '\\'",
                self.stream
            )));
        }
        if !is_valid_subject(&self.subject_prefix) {
            return Err(NatsError::InvalidConfig(format!(
                "subject prefix '{}' must be dot-separated non-empty tokens without wildcards or \
                 whitespace",
                self.subject_prefix
            )));
        }
        if self.request_timeout.is_zero() {
            return Err(NatsError::InvalidConfig(
                "request timeout must be above zero".into(),
            ));
        }
        if self.duplicate_window.is_zero() || self.duplicate_window > self.max_age {
            return Err(NatsError::InvalidConfig(
                "duplicate window must be above zero and at most max_age".into(),
            ));
        }
        Ok(())
    }

    /// The wildcard every event subject of this configuration matches.
    pub(crate) fn subject_filter(&self) -> String {
        format!("{}.>", self.subject_prefix)
    }
}

/// A stream or consumer name NATS accepts: printable, no whitespace, no subject separators or
/// wildcards (they would break the API subjects the name is put into), no path separators (the
/// file store uses the name as a directory).
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !".*>/\\".contains(c))
}

/// A subject we may publish to: dot-separated, non-empty tokens, no wildcards or whitespace.
pub(crate) fn is_valid_subject(subject: &str) -> bool {
    !subject.is_empty()
        && subject.split('.').all(|token| {
            !token.is_empty()
                && token
                    .chars()
                    .all(|c| !c.is_whitespace() && !c.is_control() && c != '*' && c != '>')
        })
}

/// What went wrong talking to NATS outside a publish (a publish's errors are
/// [`kassa_events::BusError`]s, which the relay retries).
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The configuration cannot work; nothing was sent to the server.
    #[error("invalid NATS configuration: {0}")]
    InvalidConfig(String),
    /// The server refused the connection, could not be reached, or did not complete the
    /// handshake within the request timeout.
    #[error("could not connect to NATS at {url}")]
    Connect {
        /// The configured URL without any user name or password.
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Reading or creating the stream failed.
    #[error("JetStream stream {stream}")]
    Stream {
        stream: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The stream exists but does not listen on our subjects: every publish would fail with
    /// "no stream", so start-up refuses instead of changing an operator's stream.
    #[error("JetStream stream {stream} listens on {subjects:?}, not on {wanted}")]
    StreamSubjects {
        stream: String,
        subjects: Vec<String>,
        wanted: String,
    },
    /// A consumer's name leaves nothing NATS accepts once sanitised (it was empty).
    #[error("consumer name '{0}' has no character NATS accepts in a consumer name")]
    InvalidConsumerName(String),
    /// Reading or creating a durable consumer failed.
    #[error("JetStream consumer {consumer} on stream {stream}")]
    Consumer {
        stream: String,
        consumer: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// `url` without user information, for errors and logs: NATS URLs may carry a password
/// (`nats://user:secret@host`).
pub(crate) fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|one| match (one.find("://"), one.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}://{}", &one[..scheme], &one[at + 1..])
            }
            (None, Some(at)) => one[at + 1..].to_string(),
            _ => one.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_configuration_is_valid() {
        let config = NatsConfig::default();
        assert_eq!(config.validate().map_err(|e| e.to_string()), Ok(()));
        assert_eq!(config.subject_filter(), "kassa.events.>");
        assert_eq!(config.stream, "KASSA_EVENTS");
        assert_eq!(config.duplicate_window, Duration::from_secs(120));
        assert_eq!(config.max_age, Duration::from_secs(604_800));
        assert_eq!(config.request_timeout, Duration::from_secs(5));
    }

    #[test]
    fn stream_names_with_separators_or_wildcards_are_refused() {
        for bad in ["", "A.B", "A B", "A*", "A>", "a/b", "a\\b", "a\tb"] {
            let config = NatsConfig {
                stream: bad.into(),
                ..NatsConfig::default()
            };
            assert!(config.validate().is_err(), "{bad:?}");
        }
        assert!(is_valid_name("KASSA_EVENTS-2"));
    }

    #[test]
    fn subject_prefixes_must_be_plain_tokens() {
        for bad in ["", ".", "a.", ".a", "a..b", "a.*", "a.>", "a b", "a.b>"] {
            assert!(!is_valid_subject(bad), "{bad:?}");
        }
        for good in ["kassa", "kassa.events", "kassa-test.e_1"] {
            assert!(is_valid_subject(good), "{good:?}");
        }
    }

    #[test]
    fn a_zero_timeout_or_a_window_beyond_max_age_is_refused() {
        let zero = NatsConfig {
            request_timeout: Duration::ZERO,
            ..NatsConfig::default()
        };
        assert!(zero.validate().is_err());
        let window = NatsConfig {
            duplicate_window: Duration::from_secs(10),
            max_age: Duration::from_secs(5),
            ..NatsConfig::default()
        };
        assert!(window.validate().is_err());
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("nats://user:secret@host:4222,tls://t@other:4222,plain:4222"),
            "nats://host:4222,tls://other:4222,plain:4222"
        );
        assert_eq!(redact_url("u:p@host"), "host");
        assert_eq!(redact_url("nats://host"), "nats://host");
    }
}
