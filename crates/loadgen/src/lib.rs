//! `kassa loadgen`: a load generator that drives a *running* kassa over HTTP, the way
//! storefronts do, and reports throughput and exact latency percentiles.
//!
//! It lives in its own crate, with no dependency on the server's crates, so that what it
//! measures is the HTTP API as deployed rather than anything reachable in-process; the `kassa`
//! binary only forwards its `loadgen` subcommand here ([`command`]).
//!
//! A run signs in as staff, prepares its own data under a fresh random prefix (products with
//! USD prices, stock, a flat shipping option to the US), then runs one scenario with a fixed
//! number of closed-loop workers sharing one pooled HTTP/1.1 client. Given several `--url`s
//! (nodes on one database), the workers are spread over them round-robin, while preparation
//! and verification use the first:
//!
//! - `checkout`: shoppers filling a cart and checking out, over and over;
//! - `flash-sale`: many buyers for few units of one SKU, verified afterwards through the API;
//! - `browse`: catalog reads.
//!
//! Results go to standard output as a table, and optionally to JSON and a self-contained HTML
//! page ([`report::Report`]).

pub mod args;
pub mod http;
pub mod prepare;
pub mod report;
pub mod scenarios;
pub mod stats;

use std::sync::Arc;

use anyhow::{bail, Context};

pub use args::{LoadgenArgs, Scenario};
pub use report::Report;

use crate::prepare::RunId;
use crate::scenarios::Env;

/// Runs the scenario, prints the table on standard output, writes `--json` and `--report`
/// files, and returns the report. A flash sale whose verification failed still returns its
/// report (see [`Report::passed`]); only a run that could not be carried out is an error.
pub async fn run(args: &LoadgenArgs) -> anyhow::Result<Report> {
    let common = args.scenario.common();
    let concurrency = match &args.scenario {
        Scenario::Checkout(a) => a.concurrency,
        Scenario::FlashSale(a) => a.concurrency,
        Scenario::Browse(a) => a.concurrency,
    };
    let urls = base_urls(&common.urls)?;
    let base = urls
        .first()
        .cloned()
        .context("at least one --url is needed")?;
    let client = http::client(concurrency, common.timeout)?;
    let staff = http::Staff::sign_in(
        client.clone(),
        &base,
        &common.staff_email,
        &common.staff_password,
    )
    .await?;
    let env = Env {
        client,
        base,
        urls,
        staff: Arc::new(staff),
        run: RunId::new()?,
        quiet: common.quiet,
    };
    let report = match &args.scenario {
        Scenario::Checkout(a) => scenarios::checkout(a, &env).await?,
        Scenario::FlashSale(a) => scenarios::flash_sale(a, &env).await?,
        Scenario::Browse(a) => scenarios::browse(a, &env).await?,
    };
    print!("{}", report.to_text());
    if let Some(path) = &common.json {
        std::fs::write(path, report.to_json()?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("loadgen: wrote {}", path.display());
    }
    if let Some(path) = &common.report {
        std::fs::write(path, report.to_html())
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("loadgen: wrote {}", path.display());
    }
    Ok(report)
}

/// Every `--url`, validated and normalised with [`http::base_url`], in the order given
/// (duplicates kept: they weight a node). Refuses an empty list. The command line already
/// checked each value; this covers arguments built in code.
pub fn base_urls(urls: &[String]) -> anyhow::Result<Vec<String>> {
    if urls.is_empty() {
        bail!("at least one --url is needed");
    }
    urls.iter().map(|url| http::base_url(url)).collect()
}

/// `kassa loadgen …` as the binary runs it: [`run`], then an error (a non-zero exit) when the
/// run's verification failed, so a script or CI job can rely on the exit status.
pub async fn command(args: &LoadgenArgs) -> anyhow::Result<()> {
    let report = run(args).await?;
    if !report.passed() {
        bail!(
            "{} verification failed (see the checks above)",
            args.scenario.name()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_normalise_each_and_keep_the_order() {
        let urls = base_urls(&[
            "http://b:2/".to_owned(),
            " http://a:1".to_owned(),
            "http://b:2".to_owned(),
        ])
        .expect("valid");
        assert_eq!(urls, ["http://b:2", "http://a:1", "http://b:2"]);
    }

    #[test]
    fn base_urls_refuse_none_and_a_bad_one() {
        let err = base_urls(&[]).expect_err("refused");
        assert!(err.to_string().contains("--url"), "{err}");
        let err =
            base_urls(&["http://a:1".to_owned(), "ftp://b:2".to_owned()]).expect_err("refused");
        assert!(err.to_string().contains("'ftp://b:2'"), "{err}");
    }
}
