//! HTTP metrics in the Prometheus text exposition format (0.0.4), without a metrics crate.
//!
//! Two families, both labelled `{method, route, status}`:
//! `kassa_http_requests_total` (counter) and `kassa_http_request_duration_seconds` (histogram).
//! The counter is the histogram's `_count`, kept as its own family because dashboards and alerts
//! expect a `_total` counter.
//!
//! Cardinality is bounded by construction: `route` is the matched route template (never the raw
//! path) or `unmatched`, `method` is one of the standard methods or `OTHER`, and `status` is a
//! three-digit code. So the map below holds at most routes × methods × statuses series.
//!
//! Locking: one `Mutex` around a `BTreeMap`, held for a map lookup and a few additions per
//! request, and for one pass while rendering. That is cheap next to a request's own work; if it
//! ever shows in a profile, shard by route or move to atomics per series.
//! A `BTreeMap` rather than a `HashMap` so the rendered text is sorted and stable.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use http::{Method, StatusCode};

/// The `route` label of requests no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Upper bounds of the duration buckets, in seconds: 1 ms (a cached read) to 10 s (the default
/// request timeout), roughly ×2.5 apart.
pub const DURATION_BUCKETS_SECS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SeriesKey {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Default)]
struct Series {
    count: u64,
    sum_secs: f64,
    /// Cumulative: `buckets[i]` counts requests that took at most `DURATION_BUCKETS_SECS[i]`.
    buckets: [u64; DURATION_BUCKETS_SECS.len()],
}

/// The process's HTTP metrics. Shared through `AppState` as an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<SeriesKey, Series>>,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Counts one finished request. `route` is the matched template or [`UNMATCHED_ROUTE`].
    pub fn record(&self, method: &Method, route: &str, status: StatusCode, elapsed: Duration) {
        let key = SeriesKey {
            method: method_label(method),
            route: route.to_owned(),
            status: status.as_u16(),
        };
        let secs = elapsed.as_secs_f64();
        // A panic while holding the lock cannot leave a series half-updated in a way that
        // matters for counters, so a poisoned lock is simply used.
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = series.entry(key).or_default();
        entry.count += 1;
        entry.sum_secs += secs;
        for (bucket, bound) in entry.buckets.iter_mut().zip(DURATION_BUCKETS_SECS) {
            if secs <= bound {
                *bucket += 1;
            }
        }
    }

    /// All series in the text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();

        out.push_str("# HELP kassa_http_requests_total HTTP requests answered, by method, route template and status.\n");
        out.push_str("# TYPE kassa_http_requests_total counter\n");
        for (key, s) in series.iter() {
            let _ = writeln!(
                out,
                "kassa_http_requests_total{{{}}} {}",
                labels(key),
                s.count
            );
        }

        out.push_str("# HELP kassa_http_request_duration_seconds Time from receiving a request to producing its response head, in seconds.\n");
        out.push_str("# TYPE kassa_http_request_duration_seconds histogram\n");
        for (key, s) in series.iter() {
            let labels = labels(key);
            for (bound, count) in DURATION_BUCKETS_SECS.iter().zip(s.buckets) {
                let _ = writeln!(
                    out,
                    "kassa_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "kassa_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "kassa_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum_secs
            );
            let _ = writeln!(
                out,
                "kassa_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        out
    }
}

/// One family of gauges read at scrape time from the districts (outbox lag, deliveries by
/// outcome, …): a name, its help text and its samples, each with its label pairs. Label names
/// and values come from the code (sources, statuses), never from requests, so cardinality stays
/// bounded.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeFamily {
    pub name: &'static str,
    pub help: &'static str,
    pub samples: Vec<GaugeSample>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GaugeSample {
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl GaugeSample {
    /// A sample with one label.
    pub fn labelled(name: &'static str, value_label: impl Into<String>, value: f64) -> GaugeSample {
        GaugeSample {
            labels: vec![(name, value_label.into())],
            value,
        }
    }
}

/// Gauges the server reads from its districts when `/metrics` is scraped; `server` implements it
/// over what it wired (outboxes, webhooks, notifications), tests use a fake.
#[async_trait::async_trait]
pub trait OpsGauges: Send + Sync {
    /// The families to render. A district that cannot be read is left out (and logged) rather
    /// than failing the scrape: the HTTP metrics still matter when a database is down.
    async fn gauges(&self) -> Vec<GaugeFamily>;
}

/// `families` in the text exposition format 0.0.4, each with its `HELP` and `TYPE gauge` lines.
pub fn render_gauges(families: &[GaugeFamily]) -> String {
    let mut out = String::new();
    for family in families {
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} gauge", family.name);
        for sample in &family.samples {
            let labels: Vec<String> = sample
                .labels
                .iter()
                .map(|(name, value)| format!("{name}=\"{}\"", escape_label(value)))
                .collect();
            if labels.is_empty() {
                let _ = writeln!(out, "{} {}", family.name, sample.value);
            } else {
                let _ = writeln!(
                    out,
                    "{}{{{}}} {}",
                    family.name,
                    labels.join(","),
                    sample.value
                );
            }
        }
    }
    out
}

/// Standard methods keep their name; anything else (extension methods are arbitrary tokens)
/// becomes `OTHER` so a client cannot mint series.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "CONNECT" => "CONNECT",
        _ => "OTHER",
    }
}

fn labels(key: &SeriesKey) -> String {
    format!(
        "method=\"{}\",route=\"{}\",status=\"{}\"",
        escape_label(key.method),
        escape_label(&key.route),
        key.status
    )
}

/// Label values escape `\`, `"` and newline (format 0.0.4).
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_render_with_help_type_and_escaped_labels() {
        let text = render_gauges(&[GaugeFamily {
            name: "kassa_events_outbox_lag_seconds",
            help: "Age of the oldest unpublished event.",
            samples: vec![
                GaugeSample::labelled("source", "orders", 1.5),
                GaugeSample::labelled("source", "we\"ird", 0.0),
            ],
        }]);
        assert_eq!(
            text,
            "# HELP kassa_events_outbox_lag_seconds Age of the oldest unpublished event.\n\
             # TYPE kassa_events_outbox_lag_seconds gauge\n\
             kassa_events_outbox_lag_seconds{source=\"orders\"} 1.5\n\
             kassa_events_outbox_lag_seconds{source=\"we\\\"ird\"} 0\n"
        );
    }

    #[test]
    fn a_recorded_request_renders_as_counter_and_cumulative_histogram() {
        let metrics = Metrics::new();
        metrics.record(
            &Method::GET,
            "/healthz",
            StatusCode::OK,
            Duration::from_millis(3),
        );
        metrics.record(
            &Method::GET,
            "/healthz",
            StatusCode::OK,
            Duration::from_millis(30),
        );
        let text = metrics.render();

        let labels = r#"method="GET",route="/healthz",status="200""#;
        let expect = [
            "# TYPE kassa_http_requests_total counter".to_owned(),
            "# TYPE kassa_http_request_duration_seconds histogram".to_owned(),
            format!("kassa_http_requests_total{{{labels}}} 2"),
            format!("kassa_http_request_duration_seconds_bucket{{{labels},le=\"0.001\"}} 0"),
            format!("kassa_http_request_duration_seconds_bucket{{{labels},le=\"0.005\"}} 1"),
            format!("kassa_http_request_duration_seconds_bucket{{{labels},le=\"0.05\"}} 2"),
            format!("kassa_http_request_duration_seconds_bucket{{{labels},le=\"10\"}} 2"),
            format!("kassa_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 2"),
            format!("kassa_http_request_duration_seconds_count{{{labels}}} 2"),
        ];
        for line in expect {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        let sum_prefix = format!("kassa_http_request_duration_seconds_sum{{{labels}}} ");
        let sum: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix(&sum_prefix))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN);
        assert!((sum - 0.033).abs() < 1e-9, "sum {sum}");
        assert!(text.contains("# HELP kassa_http_requests_total "));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("line\nbreak"), "line\\nbreak");
        let metrics = Metrics::new();
        metrics.record(&Method::GET, "/x\"y", StatusCode::OK, Duration::ZERO);
        assert!(metrics.render().contains(r#"route="/x\"y""#));
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let method = Method::from_bytes(b"BREW").unwrap_or(Method::GET);
        assert_eq!(method_label(&method), "OTHER");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
    }

    #[test]
    fn series_are_separate_per_status_and_sorted() {
        let metrics = Metrics::new();
        metrics.record(&Method::POST, "/b", StatusCode::CREATED, Duration::ZERO);
        metrics.record(
            &Method::GET,
            UNMATCHED_ROUTE,
            StatusCode::NOT_FOUND,
            Duration::ZERO,
        );
        metrics.record(
            &Method::POST,
            "/b",
            StatusCode::UNPROCESSABLE_ENTITY,
            Duration::ZERO,
        );
        let text = metrics.render();
        let counters: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("kassa_http_requests_total{"))
            .collect();
        assert_eq!(
            counters,
            [
                r#"kassa_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
                r#"kassa_http_requests_total{method="POST",route="/b",status="201"} 1"#,
                r#"kassa_http_requests_total{method="POST",route="/b",status="422"} 1"#,
            ]
        );
    }

    #[test]
    fn an_empty_registry_still_declares_its_families() {
        let text = Metrics::new().render();
        assert_eq!(text.lines().filter(|l| l.starts_with("# TYPE")).count(), 2);
    }
}
