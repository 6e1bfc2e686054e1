//! The command line of `kassa loadgen`: one subcommand per scenario, each with the connection
//! options flattened in, so every option is written after the scenario's name
//! (`kassa loadgen checkout --url … --concurrency 16`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

/// Where `kassa serve` listens when nothing is configured.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// `kassa loadgen <scenario> [options]`.
#[derive(Debug, Clone, Args)]
pub struct LoadgenArgs {
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// The scenarios; each prepares its own products, stock and shipping option first.
#[derive(Debug, Clone, Subcommand)]
pub enum Scenario {
    /// Closed-loop shoppers: each creates a cart, adds two random lines, sets email, address
    /// and shipping, and checks out with the sandbox's success token, then starts over.
    Checkout(CheckoutArgs),
    /// Many buyers for few units of one SKU: every buyer checks out at once, then the run
    /// verifies that exactly min(buyers, units) orders were confirmed and no stock is held.
    /// Exits non-zero when the verification fails.
    FlashSale(FlashSaleArgs),
    /// Catalog reads: the product list, a product by id and a title search.
    Browse(BrowseArgs),
}

impl Scenario {
    /// The connection and output options every scenario has.
    pub fn common(&self) -> &CommonArgs {
        match self {
            Scenario::Checkout(args) => &args.common,
            Scenario::FlashSale(args) => &args.common,
            Scenario::Browse(args) => &args.common,
        }
    }

    /// The scenario's name as typed on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Checkout(_) => "checkout",
            Scenario::FlashSale(_) => "flash-sale",
            Scenario::Browse(_) => "browse",
        }
    }
}

/// Options shared by every scenario: which kassa, as which staff member, and where the report
/// goes.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Base URL of a running kassa. Repeat it, or give a comma-separated list, to drive several
    /// nodes on one database: the timed workers are spread over them round-robin (a URL given
    /// twice gets twice the workers); data preparation and verification use the first.
    #[arg(
        long = "url",
        value_name = "URL",
        default_value = DEFAULT_URL,
        value_delimiter = ',',
        value_parser = parse_url
    )]
    pub urls: Vec<String>,
    /// A staff member allowed to write the catalog, stock and shipping options (an owner): the
    /// run prepares its own products, stock and shipping option through the staff API.
    #[arg(long, env = "KASSA_LOADGEN_STAFF_EMAIL")]
    pub staff_email: String,
    /// That member's password. Prefer the environment variable: arguments show in `ps`.
    #[arg(long, env = "KASSA_LOADGEN_STAFF_PASSWORD", hide_env_values = true)]
    pub staff_password: String,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write a self-contained HTML page (tables and SVG charts) to this file.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Give up on one request after this long (e.g. 30s, 500ms); it counts as a transport
    /// error `timeout`.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// No progress line on standard error.
    #[arg(long)]
    pub quiet: bool,
}

/// `kassa loadgen checkout`.
#[derive(Debug, Clone, Args)]
pub struct CheckoutArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Shoppers running at once, each one checkout after another.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// How long to run (e.g. 30s, 2m). Defaults to 30s unless --checkouts is given.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after this many checkouts were attempted (with --duration: whichever comes first).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub checkouts: Option<u64>,
    /// How many SKUs to prepare (each with ample stock); every cart takes two of them.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(2..=1_000))]
    pub skus: u32,
}

/// `kassa loadgen flash-sale`.
#[derive(Debug, Clone, Args)]
pub struct FlashSaleArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Units of the one SKU on sale.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub units: u64,
    /// Buyers, each with a ready cart of one unit (prepared before the timed part).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub buyers: u64,
    /// Checkouts in flight at once.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
}

/// `kassa loadgen browse`.
#[derive(Debug, Clone, Args)]
pub struct BrowseArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Readers running at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// How long to run (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// How many products to prepare (the catalog may hold others; the list reads them too).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub products: u32,
}

/// One `--url` value (a comma-separated list is split before this): validated and normalised
/// by [`crate::http::base_url`], so a bad URL among several is refused while parsing, naming it.
pub fn parse_url(text: &str) -> Result<String, String> {
    crate::http::base_url(text).map_err(|err| err.to_string())
}

/// Parses `30s`, `500ms`, `2m`, `1h`, `1m30s` or a bare number of seconds. Hand-written: one
/// small function instead of a dependency.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("a duration such as 30s, 500ms or 2m is needed".to_owned());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("'{text}' is not a duration (e.g. 30s, 500ms, 2m)"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("'{text}': number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.saturating_mul(60)),
            "h" => Duration::from_secs(number.saturating_mul(3600)),
            unit => {
                return Err(format!(
                    "'{text}': unknown unit '{unit}' (use ms, s, m or h)"
                ))
            }
        };
        total = total.saturating_add(part);
        rest = &rest[unit_len..];
    }
    if total.is_zero() {
        return Err(format!("'{text}' is zero: give a positive duration"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `kassa loadgen …` as the binary parses it.
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        loadgen: LoadgenArgs,
    }

    const STAFF: [&str; 4] = [
        "--staff-email",
        "owner@example.com",
        "--staff-password",
        "secret-secret",
    ];

    fn parse(args: &[&str]) -> Result<Scenario, clap::Error> {
        let argv = std::iter::once("loadgen").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|cli| cli.loadgen.scenario)
    }

    #[test]
    fn durations_parse_in_every_unit() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration(" 10s "), Ok(Duration::from_secs(10)));
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in ["", "s", "10x", "ten", "0s", "-5s", "1.5s", "10 s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn checkout_options_parse() {
        let mut argv = vec![
            "checkout",
            "--url",
            "http://10.0.0.1:9090",
            "--concurrency",
            "16",
            "--duration",
            "10s",
            "--skus",
            "20",
            "--json",
            "out.json",
            "--report",
            "out.html",
        ];
        argv.extend(STAFF);
        let Scenario::Checkout(args) = parse(&argv).expect("parses") else {
            panic!("not the checkout scenario");
        };
        assert_eq!(args.concurrency, 16);
        assert_eq!(args.duration, Some(Duration::from_secs(10)));
        assert_eq!(args.checkouts, None);
        assert_eq!(args.skus, 20);
        assert_eq!(args.common.urls, ["http://10.0.0.1:9090"]);
        assert_eq!(args.common.staff_email, "owner@example.com");
        assert_eq!(args.common.staff_password, "secret-secret");
        assert_eq!(args.common.json, Some(PathBuf::from("out.json")));
        assert_eq!(args.common.report, Some(PathBuf::from("out.html")));
        assert_eq!(args.common.timeout, Duration::from_secs(30));
        assert!(!args.common.quiet);
    }

    #[test]
    fn defaults_apply() {
        let mut argv = vec!["checkout", "--checkouts", "20"];
        argv.extend(STAFF);
        let Scenario::Checkout(args) = parse(&argv).expect("parses") else {
            panic!("not the checkout scenario");
        };
        assert_eq!(args.common.urls, [DEFAULT_URL]);
        assert_eq!(args.concurrency, 8);
        assert_eq!(args.duration, None);
        assert_eq!(args.checkouts, Some(20));
        assert_eq!(args.skus, 50);

        let mut argv = vec!["flash-sale", "--units", "10", "--buyers", "30", "--quiet"];
        argv.extend(STAFF);
        let scenario = parse(&argv).expect("parses");
        assert_eq!(scenario.name(), "flash-sale");
        assert!(scenario.common().quiet);
        let Scenario::FlashSale(args) = scenario else {
            panic!("not the flash-sale scenario");
        };
        assert_eq!((args.units, args.buyers, args.concurrency), (10, 30, 50));

        let mut argv = vec!["browse"];
        argv.extend(STAFF);
        let Scenario::Browse(args) = parse(&argv).expect("parses") else {
            panic!("not the browse scenario");
        };
        assert_eq!(args.duration, Duration::from_secs(30));
        assert_eq!((args.concurrency, args.products), (16, 20));
    }

    #[test]
    fn bad_arguments_are_refused() {
        let with_staff = |extra: &[&'static str]| {
            let mut argv = extra.to_vec();
            argv.extend(STAFF);
            argv
        };
        assert!(parse(&with_staff(&["checkout", "--concurrency", "0"])).is_err());
        assert!(parse(&with_staff(&["checkout", "--duration", "soon"])).is_err());
        assert!(parse(&with_staff(&["checkout", "--skus", "1"])).is_err());
        assert!(parse(&with_staff(&["flash-sale", "--units", "0"])).is_err());
        assert!(parse(&with_staff(&["stampede"])).is_err());
        assert!(parse(&with_staff(&[])).is_err(), "a scenario is required");
    }

    /// The URLs a `checkout` command line with these extra arguments drives.
    fn urls_of(extra: &[&str]) -> Result<Vec<String>, clap::Error> {
        let mut argv = vec!["checkout"];
        argv.extend(extra);
        argv.extend(STAFF);
        parse(&argv).map(|scenario| scenario.common().urls.clone())
    }

    #[test]
    fn url_may_be_repeated() {
        let urls = urls_of(&[
            "--url",
            "http://10.0.0.1:8080",
            "--url",
            "http://10.0.0.2:8080/",
            "--url",
            "https://kassa.example.com",
        ])
        .expect("parses");
        assert_eq!(
            urls,
            [
                "http://10.0.0.1:8080",
                "http://10.0.0.2:8080",
                "https://kassa.example.com"
            ],
            "in order, normalised"
        );
    }

    #[test]
    fn url_may_be_a_comma_separated_list() {
        let urls = urls_of(&["--url", "http://a:1,http://b:2/,http://c:3"]).expect("parses");
        assert_eq!(urls, ["http://a:1", "http://b:2", "http://c:3"]);
        let urls = urls_of(&["--url=http://a:1,http://b:2"]).expect("parses");
        assert_eq!(urls, ["http://a:1", "http://b:2"]);
    }

    #[test]
    fn repeated_urls_and_lists_mix_and_keep_duplicates() {
        let urls = urls_of(&[
            "--url",
            "http://a:1,http://b:2",
            "--url",
            "http://c:3",
            "--url",
            "http://a:1/",
        ])
        .expect("parses");
        assert_eq!(
            urls,
            ["http://a:1", "http://b:2", "http://c:3", "http://a:1"]
        );
        let urls = urls_of(&["--url", "http://a:1", "--url", "http://a:1"]).expect("parses");
        assert_eq!(
            urls,
            ["http://a:1", "http://a:1"],
            "a duplicate weights a node"
        );
    }

    #[test]
    fn an_invalid_url_among_several_is_refused_by_name() {
        for extra in [
            &["--url", "http://a:1,b:2"][..],
            &["--url", "http://a:1", "--url", "b:2"],
            &["--url", "b:2", "--url", "http://a:1"],
        ] {
            let err = urls_of(extra).expect_err("refused");
            let text = err.to_string();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{text}"
            );
            assert!(text.contains("'b:2'"), "names the bad URL: {text}");
            assert!(text.contains("--url"), "names the option: {text}");
            assert!(
                text.contains("must start with http:// or https://"),
                "says what is wrong: {text}"
            );
        }
        assert!(
            urls_of(&["--url", "http://a:1,"]).is_err(),
            "an empty entry"
        );
        assert!(urls_of(&["--url", ""]).is_err(), "an empty URL");
    }

    #[test]
    fn staff_credentials_are_required() {
        // Only meaningful where the environment does not provide them.
        if std::env::var_os("KASSA_LOADGEN_STAFF_EMAIL").is_none() {
            let err = parse(&["checkout", "--staff-password", "x"]).expect_err("refused");
            assert!(err.to_string().contains("--staff-email"), "{err}");
        }
    }
}
