//! `kassa`: the commerce backend in one binary. See `kassa --help`.

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kassa_kernel::SystemClock;
use kassa_server::{app, seed, settings::Settings, telemetry, Application, Districts};

/// kassa: a commerce backend whose checkout never oversells and never charges twice.
///
/// Configuration comes from config/default.toml (built in), then config/<KASSA_ENV>.toml, then
/// KASSA__SECTION__KEY environment variables (e.g. KASSA__SERVER__PORT=9090,
/// KASSA__DATABASE__URL=postgres://…, KASSA__ADMIN__TOKEN=…).
#[derive(Parser)]
#[command(name = "kassa", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (default 127.0.0.1:8080, data in SQLite files under ./data).
    Serve,
    /// Apply pending database migrations for every district, then exit.
    Migrate,
    /// Fill the catalog with a demo shop: products with variants, prices in USD and EUR,
    /// shipping options and tax rates. Running it again changes nothing.
    Seed,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::from_env().context("invalid configuration")?;
    telemetry::init(&settings.log)?;
    let clock = Arc::new(SystemClock);
    match cli.command {
        Command::Serve => {
            let application = Application::build(&settings, clock).await?;
            tracing::info!(address = %application.local_addr()?, "kassa is listening");
            application.run_until(app::shutdown_signal()).await?;
            tracing::info!("kassa stopped");
        }
        Command::Migrate => {
            let districts = Districts::open(&settings, clock, true).await?;
            districts.close().await;
            tracing::info!("migrations applied");
        }
        Command::Seed => {
            let districts = Districts::open(&settings, clock, true).await?;
            let report = seed::run(&districts).await?;
            districts.close().await;
            tracing::info!(
                categories = report.categories_created,
                products = report.products_created,
                shipping_options = report.shipping_options_created,
                tax_rates = report.tax_rates_set,
                "demo catalog seeded"
            );
        }
    }
    Ok(())
}
