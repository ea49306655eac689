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
        /// Request bodies all requests may hold in memory at once (bytes); uploads beyond it
        /// wait (503 after the request timeout).
        #[arg(long, env = "FHIRD_MAX_INFLIGHT_BODY_BYTES", default_value_t = HttpLimits::default().max_inflight_body_bytes)]
        max_inflight_body_bytes: usize,
        /// Most entries in one batch or transaction Bundle (413 above it).
        #[arg(long, env = "FHIRD_MAX_BUNDLE_ENTRIES", default_value_t = Limits::default().max_bundle_entries)]
        max_bundle_entries: usize,
        /// Most resources one conditional delete may remove (412 above it).
        #[arg(long, env = "FHIRD_MAX_CONDITIONAL_DELETE", default_value_t = Limits::default().max_conditional_delete)]
        max_conditional_delete: usize,
        /// Most resources a chain or `_has` may go through when it and the rest of the search
        /// both match more than 1,000 (400 above it).
        #[arg(long, env = "FHIRD_MAX_CHAIN_SWEEP", default_value_t = Limits::default().max_chain_sweep)]
        max_chain_sweep: usize,
        /// Index and answer `_content` (the words of every text value: more index entries than
        /// all other parameters together; data written without it needs `$reindex`).
        #[arg(long, env = "FHIRD_CONTENT_SEARCH")]
        content_search: bool,
    },
    /// Load the sample data in seed/ into a store (idempotent).
    Seed {
        #[arg(long, env = "FHIRD_STORE", default_value = config::DEFAULT_STORE)]
        store: String,
        #[arg(long, default_value = "seed")]
        dir: PathBuf,
    },
    /// Load transaction/batch/collection Bundles (*.json) and NDJSON files (*.ndjson) into a
    /// store, with a progress bar and a summary.
    Import {
        #[arg(long, env = "FHIRD_STORE", default_value = config::DEFAULT_STORE)]
        store: String,
        /// Load into this payer's partition instead of the default one.
        #[arg(long)]
        payer: Option<String>,
        /// Bundles loaded at the same time.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Most entries in one Bundle.
        #[arg(long, default_value_t = Limits::default().max_bundle_entries)]
        max_bundle_entries: usize,
        /// Files or directories (walked for *.json and *.ndjson).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Index and answer `_content` (the words of every text value: more index entries than
        /// all other parameters together; data written without it needs `$reindex`).
        #[arg(long, env = "FHIRD_CONTENT_SEARCH")]
        content_search: bool,
    },
    /// Print the CapabilityStatement (the checked-in copy is capability/CapabilityStatement.json).
    Capability {
        #[arg(long, default_value = "http://localhost:8080")]
        base_url: String,
        /// As `serve --content-search`: list `_content`.
        #[arg(long)]
        content_search: bool,
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
            max_inflight_body_bytes,
            max_bundle_entries,
            max_conditional_delete,
            max_chain_sweep,
            content_search,
        } => {
            let limits = HttpLimits {
                max_body_bytes,
                body_timeout: Duration::from_secs(request_timeout_secs),
                header_timeout: Duration::from_secs(request_timeout_secs),
                max_inflight_body_bytes,
                ..HttpLimits::default()
            };
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            let fhir_limits = Limits {
                max_bundle_entries,
                max_conditional_delete,
                max_chain_sweep,
                content_search,
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
        Command::Import {
            store,
            payer,
            concurrency,
            max_bundle_entries,
            paths,
            content_search,
        } => {
            let files = fhird::import::input_files(&paths)?;
            let total: u64 = files
                .iter()
                .filter_map(|f| std::fs::metadata(f).ok())
                .map(|m| m.len())
                .sum();
            let store = store::open(&store).await?;
            let limits = Limits {
                max_bundle_entries,
                content_search,
                ..Limits::default()
            };
            let fhir = std::sync::Arc::new(fhird::interactions::Fhir::new(
                store.clone(),
                "http://localhost:8080",
                limits,
            ));
            let partition = match payer {
                None => fhird::partition::Partition::Default,
                Some(id) => fhir
                    .payer_partition(&id)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message()))?,
            };
            let bar = std::sync::Arc::new(ImportBar::new(total, files.len()));
            let report =
                fhird::import::import(fhir, partition, files, concurrency, bar.clone()).await;
            bar.bar.finish_and_clear();
            store.close().await;
            let report = report?;
            println!(
                "imported {} resources from {} files ({} Bundles) in {:.1} s: {:.0} resources/s; {} failed",
                report.resources,
                report.files,
                report.bundles,
                report.seconds,
                report.per_second(),
                report.failed
            );
            for f in report.failures.iter().take(50) {
                println!("  failed {}: {}", f.source, f.reason);
            }
            if report.failures.len() > 50 {
                println!("  … and {} more failures", report.failures.len() - 50);
            }
            if report.failed > 0 {
                std::process::exit(1);
            }
        }
        Command::Capability {
            base_url,
            content_search,
        } => {
            let cs = fhird::fhir::capability::capability_statement(
                &format!("{}/fhir", base_url.trim_end_matches('/')),
                content_search,
            );
            println!("{}", serde_json::to_string_pretty(&cs)?);
        }
    }
    Ok(())
}

/// The progress bar of `fhird import`: bytes of input done, resources loaded and their rate.
struct ImportBar {
    bar: indicatif::ProgressBar,
    resources: std::sync::atomic::AtomicU64,
    started: std::time::Instant,
}

impl ImportBar {
    fn new(total_bytes: u64, files: usize) -> ImportBar {
        let bar = indicatif::ProgressBar::new(total_bytes);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {bytes}/{total_bytes} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(format!("{files} files"));
        ImportBar {
            bar,
            resources: Default::default(),
            started: std::time::Instant::now(),
        }
    }
}

impl fhird::import::Progress for ImportBar {
    fn advance(&self, bytes: u64, resources: u64) {
        use std::sync::atomic::Ordering;
        let n = self.resources.fetch_add(resources, Ordering::Relaxed) + resources;
        let rate = n as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        self.bar.inc(bytes);
        self.bar.set_message(format!("{n} resources, {rate:.0}/s"));
    }
}
