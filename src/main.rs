use clap::{Parser, Subcommand};
use fhird::http::HttpLimits;
use fhird::interactions::Limits;
use fhird::{config, seed, store};
use std::path::PathBuf;
use std::time::Duration;

// The request path allocates many small JSON values; mimalloc handles that markedly faster than
// glibc malloc under concurrency (seen in profiles of the create benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "fhird",
    version,
    about = "FHIR R4 server for clinics and payers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the FHIR REST API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "FHIRD_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// `sqlite:DIR` or `mongodb://HOST:PORT/?db=NAME`.
        #[arg(long, env = "FHIRD_STORE", default_value = config::DEFAULT_STORE)]
        store: String,
        /// Public root URL used in Location, fullUrl and links (default http://localhost:PORT).
        #[arg(long, env = "FHIRD_BASE_URL")]
        base_url: Option<String>,
        /// Largest request body in bytes.
        #[arg(long, env = "FHIRD_MAX_BODY_BYTES", default_value_t = HttpLimits::default().max_body_bytes)]
        max_body_bytes: usize,
        /// Seconds a client has to send a request's headers, and again its body.
        #[arg(long, env = "FHIRD_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
        request_timeout_secs: u64,
        /// Most entries in one batch or transaction Bundle (413 above it).
        #[arg(long, env = "FHIRD_MAX_BUNDLE_ENTRIES", default_value_t = Limits::default().max_bundle_entries)]
        max_bundle_entries: usize,
        /// Most resources one conditional delete may remove (412 above it).
        #[arg(long, env = "FHIRD_MAX_CONDITIONAL_DELETE", default_value_t = Limits::default().max_conditional_delete)]
        max_conditional_delete: usize,
    },
    /// Load the sample data in seed/ into a store (idempotent).
    Seed {
        #[arg(long, env = "FHIRD_STORE", default_value = config::DEFAULT_STORE)]
        store: String,
        #[arg(long, default_value = "seed")]
        dir: PathBuf,
    },
    /// Print the CapabilityStatement (the checked-in copy is capability/CapabilityStatement.json).
    Capability {
        #[arg(long, default_value = "http://localhost:8080")]
        base_url: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FHIRD_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Serve {
            listen,
            store,
            base_url,
            max_body_bytes,
            request_timeout_secs,
            max_bundle_entries,
            max_conditional_delete,
        } => {
            let limits = HttpLimits {
                max_body_bytes,
                body_timeout: Duration::from_secs(request_timeout_secs),
                header_timeout: Duration::from_secs(request_timeout_secs),
                ..HttpLimits::default()
            };
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            let fhir_limits = Limits {
                max_bundle_entries,
                max_conditional_delete,
                ..Limits::default()
            };
            let server = config::Server::start_with(
                listener,
                &store,
                base_url.as_deref(),
                limits,
                fhir_limits,
            )
            .await?;
            tracing::info!("fhird serving {}/fhir from {store}", server.root_url);
            server.run_until(config::shutdown_signal()).await;
            tracing::info!("fhird stopped");
        }
        Command::Seed { store, dir } => {
            let store = store::open(&store).await?;
            let fhir = fhird::interactions::Fhir::new(
                store.clone(),
                "http://localhost:8080",
                Default::default(),
            );
            let report = seed::load(&fhir, &dir).await;
            store.close().await;
            let report = report?;
            println!(
                "seed loaded: {} created, {} updated, {} unchanged",
                report.created, report.updated, report.unchanged
            );
        }
        Command::Capability { base_url } => {
            let cs = fhird::fhir::capability::capability_statement(&format!(
                "{}/fhir",
                base_url.trim_end_matches('/')
            ));
            println!("{}", serde_json::to_string_pretty(&cs)?);
        }
    }
    Ok(())
}
