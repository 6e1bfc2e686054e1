//! `kassa`: the commerce backend in one binary. See `kassa --help`.

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use kassa_identity::Role;
use kassa_kernel::SystemClock;
use kassa_server::{app, seed, settings::Settings, staff, telemetry, Application, Districts};

/// kassa: a commerce backend whose checkout never oversells and never charges twice.
///
/// Configuration comes from config/default.toml (built in), then config/<KASSA_ENV>.toml, then
/// KASSA__SECTION__KEY environment variables (e.g. KASSA__SERVER__PORT=9090,
/// KASSA__DATABASE__URL=postgres://…, KASSA__IDENTITY__JWT_SECRET=…).
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
    /// Manage staff accounts from the command line (the first owner is created this way).
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Drive a running kassa over HTTP and measure it: checkout, flash-sale or browse.
    ///
    /// E.g. `kassa loadgen checkout --concurrency 16 --duration 30s`. Signs in as an owner
    /// (--staff-email/--staff-password, or KASSA_LOADGEN_STAFF_EMAIL and
    /// KASSA_LOADGEN_STAFF_PASSWORD) to prepare its own products, stock and shipping option,
    /// then prints a latency table; --json and --report write JSON and an HTML page.
    Loadgen(kassa_loadgen::LoadgenArgs),
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Create a staff member, e.g. `kassa staff create --role owner --email owner@example.com`.
    ///
    /// The password is read from the KASSA_STAFF_PASSWORD environment variable, or else as one
    /// line from standard input (e.g. `read -rs PW && printf '%s\n' "$PW" | kassa staff create
    /// …`); it is never taken as an argument. It needs 10 to 128 characters and must not be a
    /// common password, a simple sequence or contain the email's part before the @. The staff
    /// member then signs in with POST /v1/admin/sessions.
    Create {
        /// What the member may do: owner (everything), manager (catalog, stock, orders) or
        /// support (reads, capped refunds).
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The member's email, used to sign in.
        #[arg(long)]
        email: String,
    },
}

/// `--role`, spelled as the API spells roles.
#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Owner,
    Manager,
    Support,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Owner => Role::Owner,
            RoleArg::Manager => Role::Manager,
            RoleArg::Support => Role::Support,
        }
    }
}

/// A request makes many small, short-lived allocations on whichever worker thread runs it;
/// glibc's malloc spent 13 % of a checkout's CPU on them (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The load generator is a client of a kassa running elsewhere: it needs neither this
    // machine's server configuration (which may not exist there) nor the server's JSON logger.
    if let Command::Loadgen(args) = &cli.command {
        return kassa_loadgen::command(args).await;
    }
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
        Command::Staff {
            command: StaffCommand::Create { role, email },
        } => {
            let password = staff::read_password()?;
            let districts = Districts::open(&settings, clock, true).await?;
            let created = staff::create(&districts, role.into(), &email, password).await;
            districts.close().await;
            let member = created?;
            println!("created {} {} ({})", member.role, member.id, member.email);
        }
        // Ran above, before the settings were loaded.
        Command::Loadgen(_) => {}
    }
    Ok(())
}
