//! The run's results, and their three renderings: a plain-text table for the terminal, JSON
//! for machines (`--json`), and a self-contained HTML page with hand-drawn SVG charts
//! (`--report`) that opens anywhere without a network or a JavaScript library.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::stats::{Latency, Recorder, Step};

/// Everything a run measured and checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `checkout`, `flash-sale` or `browse`.
    pub scenario: String,
    /// The first `--url`: where the data was prepared and verified.
    pub url: String,
    /// Every `--url`, in the order given (the first is `url`); the workers were spread over
    /// them round-robin. Empty in reports written before several URLs were possible.
    #[serde(default)]
    pub urls: Vec<String>,
    /// The random part of this run's SKUs and shopper email.
    pub run_id: String,
    pub concurrency: u32,
    /// Length of the timed part, in seconds.
    pub elapsed_secs: f64,
    /// HTTP requests in the timed part (the whole-checkout journeys are not requests).
    pub requests: u64,
    /// Those that counted as errors.
    pub errors: u64,
    pub requests_per_sec: f64,
    /// The scenario's headline figures (confirmed checkouts per second, decisions per second…).
    pub figures: Vec<Figure>,
    /// One row per step that ran, in the scenario's order.
    pub steps: Vec<StepStats>,
    /// Errors by problem `code`, `http_<status>`, `unexpected_<status>` or `transport_<kind>`.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// One entry per second of the timed part.
    pub timeline: Vec<Second>,
    /// The flash sale's checks; `None` for scenarios that verify nothing.
    pub verification: Option<Verification>,
    /// What the reader should know (what was skipped, what "flow" means here, …).
    pub notes: Vec<String>,
}

/// A named headline figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

/// Latency and counts of one step. Latencies are in milliseconds, exact percentiles
/// (nearest rank) over every answered request of the step, errors included: a slow error is
/// still time a shopper waited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    pub step: String,
    pub count: u64,
    pub errors: u64,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// One second of the timed part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the timed part began (0 is the first second).
    pub second: u32,
    /// How much of this second the timed part covered: 1 but for the last second, which is
    /// usually cut short. Divide a count by it for a rate.
    pub span_secs: f64,
    pub requests: u64,
    pub errors: u64,
    /// Journeys finished in this second (see the report's flow figure).
    pub flows: u64,
    /// Latency of the requests that finished in this second; `None` when none did.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// The flash sale's verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub passed: bool,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub expected: String,
    pub actual: String,
    pub passed: bool,
}

impl Check {
    pub fn equal(name: &str, expected: impl ToString, actual: impl ToString) -> Check {
        let (expected, actual) = (expected.to_string(), actual.to_string());
        Check {
            name: name.to_owned(),
            passed: expected == actual,
            expected,
            actual,
        }
    }
}

impl Verification {
    pub fn of(checks: Vec<Check>) -> Verification {
        Verification {
            passed: checks.iter().all(|c| c.passed),
            checks,
        }
    }
}

/// What a scenario hands over to make its report.
pub struct RunSummary<'a> {
    pub scenario: &'a str,
    /// Every URL driven, in order; the first is where data was prepared and verified.
    pub urls: &'a [String],
    pub run_id: &'a str,
    pub concurrency: u32,
    pub elapsed_secs: f64,
    /// What one "flow" is in this scenario, for the throughput figure and chart legend.
    pub flow_name: &'a str,
    pub figures: Vec<Figure>,
    pub verification: Option<Verification>,
    pub notes: Vec<String>,
}

/// Rounds to three decimals: microseconds for milliseconds, plenty for rates. Beyond being
/// all the precision the figures have, a number with few digits survives a JSON round trip
/// exactly (a 17-digit one may come back one bit off).
fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn ms(micros: u32) -> f64 {
    round3(f64::from(micros) / 1000.0)
}

fn per_sec(count: u64, elapsed_secs: f64) -> f64 {
    if elapsed_secs > 0.0 {
        round3(count as f64 / elapsed_secs)
    } else {
        0.0
    }
}

impl Report {
    /// Summarises a merged recording.
    pub fn build(summary: RunSummary<'_>, recorder: &Recorder) -> Report {
        let elapsed = summary.elapsed_secs;
        let mut by_step: BTreeMap<Step, (Vec<u32>, u64)> = BTreeMap::new();
        let mut seconds: BTreeMap<u32, (Vec<u32>, u64)> = BTreeMap::new();
        let (mut requests, mut errors) = (0u64, 0u64);
        for sample in &recorder.samples {
            let entry = by_step.entry(sample.step).or_default();
            entry.0.push(sample.micros);
            entry.1 += u64::from(!sample.ok);
            if sample.step.is_request() {
                requests += 1;
                errors += u64::from(!sample.ok);
                let second = seconds.entry(sample.at_ms / 1000).or_default();
                second.0.push(sample.micros);
                second.1 += u64::from(!sample.ok);
            }
        }
        let steps = Step::ALL
            .iter()
            .filter_map(|step| {
                let (micros, step_errors) = by_step.get_mut(step)?;
                let latency = Latency::of(micros)?;
                Some(StepStats {
                    step: step.name().to_owned(),
                    count: latency.count,
                    errors: *step_errors,
                    per_sec: per_sec(latency.count, elapsed),
                    p50_ms: ms(latency.p50),
                    p95_ms: ms(latency.p95),
                    p99_ms: ms(latency.p99),
                    max_ms: ms(latency.max),
                    mean_ms: round3(latency.mean / 1000.0),
                })
            })
            .collect();
        let mut flows: BTreeMap<u32, u64> = BTreeMap::new();
        for at_ms in &recorder.flows_at_ms {
            *flows.entry(at_ms / 1000).or_default() += 1;
        }
        let last = seconds
            .keys()
            .chain(flows.keys())
            .copied()
            .max()
            .unwrap_or(0);
        let timeline = (0..=last)
            .map(|second| {
                let (mut micros, errors) = seconds.remove(&second).unwrap_or_default();
                let latency = Latency::of(&mut micros);
                Second {
                    second,
                    span_secs: round3((elapsed - f64::from(second)).clamp(0.0, 1.0)),
                    requests: micros.len() as u64,
                    errors,
                    flows: flows.get(&second).copied().unwrap_or(0),
                    p50_ms: latency.map(|l| ms(l.p50)),
                    p99_ms: latency.map(|l| ms(l.p99)),
                }
            })
            .collect();
        let mut figures = vec![Figure {
            name: format!("{} per second", summary.flow_name),
            value: per_sec(recorder.flows_at_ms.len() as u64, elapsed),
            unit: "/s".to_owned(),
        }];
        figures.extend(summary.figures.into_iter().map(|f| Figure {
            value: round3(f.value),
            ..f
        }));
        Report {
            scenario: summary.scenario.to_owned(),
            url: summary.urls.first().cloned().unwrap_or_default(),
            urls: summary.urls.to_vec(),
            run_id: summary.run_id.to_owned(),
            concurrency: summary.concurrency,
            elapsed_secs: round3(elapsed),
            requests,
            errors,
            requests_per_sec: per_sec(requests, elapsed),
            figures,
            steps,
            errors_by_kind: recorder.errors.clone(),
            timeline,
            verification: summary.verification,
            notes: summary.notes,
        }
    }

    /// Every URL the run drove: `urls`, or `url` alone for a report that predates `urls`.
    pub fn all_urls(&self) -> Vec<&str> {
        if self.urls.is_empty() {
            vec![self.url.as_str()]
        } else {
            self.urls.iter().map(String::as_str).collect()
        }
    }

    /// Where the run's data was prepared (and, for a flash sale, verified): the first URL.
    fn prepared_on(&self) -> &'static str {
        if self.verification.is_some() {
            "data prepared and verified on"
        } else {
            "data prepared on"
        }
    }

    /// Whether the run met its checks (always, for scenarios without any).
    pub fn passed(&self) -> bool {
        self.verification.as_ref().is_none_or(|v| v.passed)
    }

    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }

    /// The terminal table.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let urls = self.all_urls();
        let _ = writeln!(
            out,
            "kassa loadgen {} against {} (run {}), concurrency {}, {:.1} s",
            self.scenario,
            urls.join(", "),
            self.run_id,
            self.concurrency,
            self.elapsed_secs
        );
        if urls.len() > 1 {
            let _ = writeln!(
                out,
                "workers round-robin over {} URLs; {} {}",
                urls.len(),
                self.prepared_on(),
                self.url
            );
        }
        let _ = writeln!(
            out,
            "requests: {} ({:.1}/s), errors: {}",
            self.requests, self.requests_per_sec, self.errors
        );
        for figure in &self.figures {
            let _ = writeln!(out, "{}: {}", figure.name, fmt_figure(figure));
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<22} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "step", "count", "errors", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms"
        );
        for s in &self.steps {
            let _ = writeln!(
                out,
                "{:<22} {:>9} {:>7} {:>9.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                s.step, s.count, s.errors, s.per_sec, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms
            );
        }
        let _ = writeln!(out);
        if self.errors_by_kind.is_empty() {
            let _ = writeln!(out, "errors by kind: none");
        } else {
            let _ = writeln!(out, "errors by kind:");
            for (kind, count) in &self.errors_by_kind {
                let _ = writeln!(out, "  {kind:<40} {count:>9}");
            }
        }
        if let Some(verification) = &self.verification {
            let _ = writeln!(
                out,
                "\nverification: {}",
                if verification.passed {
                    "PASSED"
                } else {
                    "FAILED"
                }
            );
            for check in &verification.checks {
                let _ = writeln!(
                    out,
                    "  [{}] {}: expected {}, got {}",
                    if check.passed { "ok" } else { "FAIL" },
                    check.name,
                    check.expected,
                    check.actual
                );
            }
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }

    /// The HTML page: the same tables as the text, plus latency-over-time (p50 and p99 of each
    /// second) and throughput-per-second charts.
    pub fn to_html(&self) -> String {
        let mut out = String::new();
        let title = format!("kassa loadgen {} — run {}", self.scenario, self.run_id);
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>{}</title>\n<style>\n\
             body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #222; }}\n\
             table {{ border-collapse: collapse; margin: 1em 0; }}\n\
             th, td {{ padding: 0.25em 0.75em; border-bottom: 1px solid #ddd; text-align: right; }}\n\
             th:first-child, td:first-child {{ text-align: left; }}\n\
             .fail {{ color: #b00020; font-weight: bold; }} .ok {{ color: #1b7f3b; }}\n\
             svg {{ display: block; margin: 1em 0; }}\n\
             </style>\n</head>\n<body>\n<h1>{}</h1>\n",
            escape(&title),
            escape(&title)
        );
        let urls = self.all_urls();
        let against: Vec<String> = urls
            .iter()
            .map(|url| format!("<code>{}</code>", escape(url)))
            .collect();
        let spread = if urls.len() > 1 {
            format!(
                " (workers round-robin over {} URLs; {} <code>{}</code>)",
                urls.len(),
                self.prepared_on(),
                escape(&self.url)
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<p>Against {}{spread}, concurrency {}, {:.1} s: {} requests ({:.1}/s), {} errors.</p>\n<ul>\n",
            against.join(", "),
            self.concurrency,
            self.elapsed_secs,
            self.requests,
            self.requests_per_sec,
            self.errors
        );
        for figure in &self.figures {
            let _ = writeln!(
                out,
                "<li>{}: <strong>{}</strong></li>",
                escape(&figure.name),
                escape(&fmt_figure(figure))
            );
        }
        out.push_str(
            "</ul>\n<h2>Latency by step</h2>\n<table>\n<tr><th>step</th><th>count</th>\
                      <th>errors</th><th>per s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th>\
                      <th>max ms</th><th>mean ms</th></tr>\n",
        );
        for s in &self.steps {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td>\
                 <td>{:.2}</td><td>{:.2}</td><td>{:.2}</td></tr>",
                escape(&s.step),
                s.count,
                s.errors,
                s.per_sec,
                s.p50_ms,
                s.p95_ms,
                s.p99_ms,
                s.max_ms,
                s.mean_ms
            );
        }
        out.push_str("</table>\n<h2>Errors by kind</h2>\n");
        if self.errors_by_kind.is_empty() {
            out.push_str("<p>None.</p>\n");
        } else {
            out.push_str("<table>\n<tr><th>kind</th><th>count</th></tr>\n");
            for (kind, count) in &self.errors_by_kind {
                let _ = writeln!(out, "<tr><td>{}</td><td>{count}</td></tr>", escape(kind));
            }
            out.push_str("</table>\n");
        }
        if let Some(verification) = &self.verification {
            let (class, word) = if verification.passed {
                ("ok", "passed")
            } else {
                ("fail", "FAILED")
            };
            let _ = write!(
                out,
                "<h2>Verification: <span class=\"{class}\">{word}</span></h2>\n<table>\n\
                 <tr><th>check</th><th>expected</th><th>actual</th><th></th></tr>\n"
            );
            for check in &verification.checks {
                let (class, word) = if check.passed {
                    ("ok", "ok")
                } else {
                    ("fail", "FAIL")
                };
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{word}</td></tr>",
                    escape(&check.name),
                    escape(&check.expected),
                    escape(&check.actual)
                );
            }
            out.push_str("</table>\n");
        }
        // A last second shorter than half a second holds only the drain (workers finishing
        // their journey after the deadline): too few samples for its rates and percentiles to
        // mean anything, so the charts leave it out; the JSON timeline keeps it.
        let charted = |s: &&Second| s.span_secs >= CHART_SPAN_MIN_SECS;
        let point = |f: fn(&Second) -> Option<f64>| -> Vec<(f64, f64)> {
            self.timeline
                .iter()
                .filter(charted)
                .filter_map(|s| Some((f64::from(s.second), f(s)?)))
                .collect()
        };
        out.push_str("<h2>Latency over time</h2>\n");
        out.push_str(&line_chart(
            "Request latency per second (ms)",
            &[
                Series {
                    name: "p50",
                    color: "#1f77b4",
                    points: point(|s| s.p50_ms),
                },
                Series {
                    name: "p99",
                    color: "#d62728",
                    points: point(|s| s.p99_ms),
                },
            ],
        ));
        out.push_str("<h2>Throughput per second</h2>\n");
        let flow_name = self
            .figures
            .first()
            .map(|f| f.name.trim_end_matches(" per second").to_owned())
            .unwrap_or_else(|| "flows".to_owned());
        out.push_str(&line_chart(
            "Requests and journeys finished per second",
            &[
                Series {
                    name: "requests",
                    color: "#1f77b4",
                    points: point(|s| Some(s.requests as f64 / s.span_secs)),
                },
                Series {
                    name: &flow_name,
                    color: "#2ca02c",
                    points: point(|s| Some(s.flows as f64 / s.span_secs)),
                },
                Series {
                    name: "errors",
                    color: "#d62728",
                    points: point(|s| Some(s.errors as f64 / s.span_secs)),
                },
            ],
        ));
        if let Some(last) = self.timeline.iter().rev().find(|s| !charted(s)) {
            let _ = writeln!(
                out,
                "<p>The charts leave out the last {:.0} ms (second {}, a partial second); the \
                 JSON timeline has it.</p>",
                last.span_secs * 1000.0,
                last.second
            );
        }
        if !self.notes.is_empty() {
            out.push_str("<h2>Notes</h2>\n<ul>\n");
            for note in &self.notes {
                let _ = writeln!(out, "<li>{}</li>", escape(note));
            }
            out.push_str("</ul>\n");
        }
        out.push_str("</body>\n</html>\n");
        out
    }
}

fn fmt_figure(figure: &Figure) -> String {
    if figure.unit.is_empty() {
        format!("{}", figure.value)
    } else {
        format!("{:.1}{}", figure.value, figure.unit)
    }
}

/// HTML-escapes text for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One line of a chart.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    /// (x, y) points, x ascending.
    pub points: Vec<(f64, f64)>,
}

/// The shortest second the charts show (see [`Report::to_html`]).
const CHART_SPAN_MIN_SECS: f64 = 0.5;
const CHART_WIDTH: f64 = 900.0;
const CHART_HEIGHT: f64 = 300.0;
const MARGIN_LEFT: f64 = 60.0;
const MARGIN_RIGHT: f64 = 20.0;
const MARGIN_TOP: f64 = 30.0;
const MARGIN_BOTTOM: f64 = 40.0;

/// The smallest "nice" number (1, 2 or 5 × 10ⁿ) at or above `value`, so axis ticks are round.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if step * magnitude >= value {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

/// An SVG line chart with x in seconds, a y axis from 0 with five round ticks, and a legend.
pub fn line_chart(title: &str, series: &[Series<'_>]) -> String {
    let max_x = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(0.0, f64::max)
        .max(1.0);
    let max_y = nice_ceiling(
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );
    let plot_w = CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let plot_h = CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let x_of = |x: f64| MARGIN_LEFT + x / max_x * plot_w;
    let y_of = |y: f64| MARGIN_TOP + plot_h - y / max_y * plot_h;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{CHART_WIDTH}\" height=\"{CHART_HEIGHT}\" \
         viewBox=\"0 0 {CHART_WIDTH} {CHART_HEIGHT}\" role=\"img\" aria-label=\"{}\">\n\
         <text x=\"{MARGIN_LEFT}\" y=\"18\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
        escape(title),
        escape(title)
    );
    for i in 0..=5 {
        let value = max_y * f64::from(i) / 5.0;
        let y = y_of(value);
        let _ = writeln!(
            svg,
            "<line x1=\"{MARGIN_LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e0e0e0\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            MARGIN_LEFT + plot_w,
            MARGIN_LEFT - 6.0,
            y + 4.0,
            trim_number(value)
        );
    }
    let x_step = nice_ceiling(max_x / 10.0);
    let mut x = 0.0;
    while x <= max_x + 1e-9 {
        let px = x_of(x);
        let _ = writeln!(
            svg,
            "<line x1=\"{px:.1}\" y1=\"{:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#999\"/>\
             <text x=\"{px:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            MARGIN_TOP + plot_h,
            MARGIN_TOP + plot_h + 4.0,
            MARGIN_TOP + plot_h + 16.0,
            trim_number(x)
        );
        x += x_step;
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{MARGIN_LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>\
         <line x1=\"{MARGIN_LEFT}\" y1=\"{MARGIN_TOP}\" x2=\"{MARGIN_LEFT}\" y2=\"{:.1}\" stroke=\"#333\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">seconds</text>",
        MARGIN_TOP + plot_h,
        MARGIN_LEFT + plot_w,
        MARGIN_TOP + plot_h,
        MARGIN_TOP + plot_h,
        MARGIN_LEFT + plot_w / 2.0,
        CHART_HEIGHT - 6.0
    );
    if series.iter().all(|s| s.points.is_empty()) {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\">no data</text>",
            MARGIN_LEFT + plot_w / 2.0,
            MARGIN_TOP + plot_h / 2.0
        );
    }
    for (i, s) in series.iter().enumerate() {
        if !s.points.is_empty() {
            let points: Vec<String> = s
                .points
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", x_of(x), y_of(y)))
                .collect();
            let _ = writeln!(
                svg,
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
                escape(s.color),
                points.join(" ")
            );
        }
        let lx = MARGIN_LEFT + plot_w - 120.0;
        let ly = MARGIN_TOP + 8.0 + 16.0 * i as f64;
        let _ = writeln!(
            svg,
            "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{}\" stroke-width=\"3\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            lx + 18.0,
            escape(s.color),
            lx + 24.0,
            ly + 4.0,
            escape(s.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A tick label: no trailing `.0`, at most two decimals.
fn trim_number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::stats::Sample;

    /// A recording with known figures: 100 checkouts of 1..=100 ms spread over 2 seconds, two
    /// failed, plus one whole-checkout journey per checkout.
    fn recording() -> Recorder {
        let mut recorder = Recorder::new(Instant::now());
        for i in 1..=100u32 {
            let at_ms = if i <= 60 { 100 + i } else { 1000 + i };
            recorder.samples.push(Sample {
                step: Step::Checkout,
                at_ms,
                micros: i * 1000,
                ok: i > 2,
            });
            recorder.samples.push(Sample {
                step: Step::CheckoutFlow,
                at_ms,
                micros: i * 3000,
                ok: true,
            });
            if i > 2 {
                recorder.flows_at_ms.push(at_ms);
            }
        }
        recorder.count_error("insufficient_stock");
        recorder.count_error("transport_timeout");
        recorder
    }

    fn report() -> Report {
        let recorder = recording();
        Report::build(
            RunSummary {
                scenario: "checkout",
                urls: &["http://127.0.0.1:8080".to_owned()],
                run_id: "3f9a1c2b",
                concurrency: 4,
                elapsed_secs: Duration::from_secs(2).as_secs_f64(),
                flow_name: "confirmed checkouts",
                figures: vec![Figure {
                    name: "confirmed".to_owned(),
                    value: 98.0,
                    unit: String::new(),
                }],
                verification: Some(Verification::of(vec![
                    Check::equal("orders confirmed", 98, 98),
                    Check::equal("reserved", 0, 1),
                ])),
                notes: vec!["search <skipped> & noted".to_owned()],
            },
            &recorder,
        )
    }

    #[test]
    fn the_report_has_exact_figures() {
        let report = report();
        assert_eq!(report.requests, 100, "journeys are not requests");
        assert_eq!(report.errors, 2);
        assert!((report.requests_per_sec - 50.0).abs() < 1e-9);
        assert_eq!(report.figures[0].name, "confirmed checkouts per second");
        assert!((report.figures[0].value - 49.0).abs() < 1e-9);
        let checkout = &report.steps[0];
        assert_eq!(checkout.step, "checkout");
        assert_eq!((checkout.count, checkout.errors), (100, 2));
        assert_eq!(
            (
                checkout.p50_ms,
                checkout.p95_ms,
                checkout.p99_ms,
                checkout.max_ms
            ),
            (50.0, 95.0, 99.0, 100.0)
        );
        assert!((checkout.mean_ms - 50.5).abs() < 1e-9);
        let whole = &report.steps[1];
        assert_eq!(whole.step, "whole_checkout");
        assert_eq!((whole.p50_ms, whole.p99_ms), (150.0, 297.0));
        assert_eq!(report.timeline.len(), 2);
        assert_eq!(report.timeline[1].span_secs, 1.0);
        assert_eq!(report.timeline[0].requests, 60);
        assert_eq!(report.timeline[0].flows, 58);
        assert_eq!(report.timeline[0].p50_ms, Some(30.0));
        assert_eq!(report.timeline[1].requests, 40);
        assert_eq!(report.timeline[1].p99_ms, Some(100.0));
        assert!(!report.passed(), "one check failed");
    }

    #[test]
    fn json_round_trips() {
        let report = report();
        let json = report.to_json().expect("serialises");
        let back: Report = serde_json::from_str(&json).expect("parses back");
        assert_eq!(back, report);
        let value: serde_json::Value = serde_json::from_str(&json).expect("is JSON");
        assert_eq!(value["steps"][0]["p99_ms"], 99.0);
        assert_eq!(value["errors_by_kind"]["transport_timeout"], 1);
        assert_eq!(value["verification"]["passed"], false);
        assert_eq!(value["timeline"][1]["second"], 1);
    }

    #[test]
    fn json_round_trips_awkward_figures() {
        // Rates and means of real runs have 17 significant digits before rounding; some of
        // those came back from JSON one bit off.
        let mut recorder = recording();
        recorder.samples.push(Sample {
            step: Step::AddLine,
            at_ms: 5,
            micros: 12_421,
            ok: true,
        });
        let report = Report::build(
            RunSummary {
                scenario: "checkout",
                urls: &["http://127.0.0.1:8080".to_owned()],
                run_id: "3f9a1c2b",
                concurrency: 4,
                elapsed_secs: 1.293_008_156,
                flow_name: "confirmed checkouts",
                figures: vec![Figure {
                    name: "prep".to_owned(),
                    value: 15.467_806_530_989_897,
                    unit: " s".to_owned(),
                }],
                verification: None,
                notes: Vec::new(),
            },
            &recorder,
        );
        assert_eq!(report.elapsed_secs, 1.293);
        assert_eq!(report.figures[1].value, 15.468);
        let spans: Vec<f64> = report.timeline.iter().map(|s| s.span_secs).collect();
        assert_eq!(spans, [1.0, 0.293]);
        let html = report.to_html();
        assert!(
            html.contains("leave out the last 293 ms (second 1"),
            "{html}"
        );
        let json = report.to_json().expect("serialises");
        let back: Report = serde_json::from_str(&json).expect("parses back");
        assert_eq!(back, report);
    }

    #[test]
    fn text_shows_the_table() {
        let text = report().to_text();
        assert!(text.contains("checkout"), "{text}");
        assert!(text.contains("95.00"), "{text}");
        assert!(
            text.contains("confirmed checkouts per second: 49.0/s"),
            "{text}"
        );
        assert!(text.contains("insufficient_stock"), "{text}");
        assert!(text.contains("verification: FAILED"), "{text}");
        assert!(
            text.contains("[FAIL] reserved: expected 0, got 1"),
            "{text}"
        );
    }

    #[test]
    fn html_is_self_contained_with_charts_and_figures() {
        let html = report().to_html();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        assert_eq!(html.matches("<svg").count(), 2, "two charts");
        assert_eq!(html.matches("</svg>").count(), 2);
        assert!(html.contains("<polyline"), "charts draw lines");
        assert!(html.contains("<td>99.00</td>"), "the checkout p99");
        assert!(html.contains("<td>297.00</td>"), "the whole checkout p99");
        assert!(html.contains("49.0/s"));
        assert!(html.contains("transport_timeout"));
        assert!(html.contains("FAILED"));
        assert!(
            html.contains("search &lt;skipped&gt; &amp; noted"),
            "notes are escaped"
        );
        for forbidden in ["<script", "http://www.w3.org/1999", "https://"] {
            assert!(!html.contains(forbidden), "{forbidden} in the page");
        }
    }

    #[test]
    fn every_url_is_reported_and_the_first_is_url() {
        let urls = [
            "http://10.0.0.1:8080".to_owned(),
            "http://10.0.0.2:8080".to_owned(),
            "http://10.0.0.3:8080".to_owned(),
        ];
        let report = Report::build(
            RunSummary {
                scenario: "checkout",
                urls: &urls,
                run_id: "3f9a1c2b",
                concurrency: 6,
                elapsed_secs: 2.0,
                flow_name: "confirmed checkouts",
                figures: Vec::new(),
                verification: None,
                notes: Vec::new(),
            },
            &recording(),
        );
        assert_eq!(report.url, "http://10.0.0.1:8080");
        assert_eq!(report.urls, urls);

        let json = report.to_json().expect("serialises");
        let value: serde_json::Value = serde_json::from_str(&json).expect("is JSON");
        assert_eq!(value["url"], "http://10.0.0.1:8080");
        assert_eq!(
            value["urls"],
            serde_json::json!([
                "http://10.0.0.1:8080",
                "http://10.0.0.2:8080",
                "http://10.0.0.3:8080"
            ])
        );
        let back: Report = serde_json::from_str(&json).expect("parses back");
        assert_eq!(back, report);

        let text = report.to_text();
        assert!(
            text.starts_with(
                "kassa loadgen checkout against http://10.0.0.1:8080, http://10.0.0.2:8080, \
                 http://10.0.0.3:8080 (run 3f9a1c2b), concurrency 6, 2.0 s\n\
                 workers round-robin over 3 URLs; data prepared on http://10.0.0.1:8080\n"
            ),
            "{text}"
        );

        let html = report.to_html();
        for url in &urls {
            assert!(
                html.contains(&format!("<code>{url}</code>")),
                "{url}: {html}"
            );
        }
        assert!(
            html.contains(
                "(workers round-robin over 3 URLs; data prepared on <code>http://10.0.0.1:8080</code>)"
            ),
            "{html}"
        );
        let verified = Report {
            verification: Some(Verification::of(Vec::new())),
            ..report
        };
        assert!(
            verified
                .to_text()
                .contains("data prepared and verified on http://10.0.0.1:8080\n"),
            "a flash sale verifies on the first URL too"
        );
    }

    #[test]
    fn one_url_reads_as_before() {
        let report = report();
        assert_eq!(report.url, "http://127.0.0.1:8080");
        assert_eq!(report.urls, ["http://127.0.0.1:8080"]);
        let text = report.to_text();
        assert!(
            text.starts_with(
                "kassa loadgen checkout against http://127.0.0.1:8080 (run 3f9a1c2b), \
                 concurrency 4, 2.0 s\nrequests: "
            ),
            "{text}"
        );
        assert!(!text.contains("round-robin"), "{text}");
        let html = report.to_html();
        assert!(
            html.contains("<p>Against <code>http://127.0.0.1:8080</code>, concurrency 4"),
            "{html}"
        );
    }

    #[test]
    fn a_report_without_urls_still_parses() {
        let mut value = serde_json::to_value(report()).expect("serialises");
        value
            .as_object_mut()
            .expect("an object")
            .remove("urls")
            .expect("had urls");
        let old: Report = serde_json::from_value(value).expect("parses");
        assert!(old.urls.is_empty());
        assert_eq!(old.all_urls(), ["http://127.0.0.1:8080"]);
        assert!(old.to_text().contains("against http://127.0.0.1:8080 (run"));
    }

    #[test]
    fn charts_scale_to_round_numbers() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(13.0), 20.0);
        assert_eq!(nice_ceiling(420.0), 500.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
        let svg = line_chart(
            "t",
            &[Series {
                name: "a",
                color: "#000",
                points: vec![(0.0, 0.0), (10.0, 42.0)],
            }],
        );
        // The top gridline is 50 and the last point sits at the right edge, 42/50 of the way up.
        assert!(svg.contains(">50</text>"), "{svg}");
        let y = MARGIN_TOP + (CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM) * (1.0 - 42.0 / 50.0);
        assert!(
            svg.contains(&format!("{:.1},{y:.1}", CHART_WIDTH - MARGIN_RIGHT)),
            "{svg}"
        );
        assert!(line_chart("empty", &[]).contains("no data"));
    }
}
