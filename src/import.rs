//! `fhird import`: loads transaction, batch and collection Bundles (`*.json`) and NDJSON files
//! (`*.ndjson`, one resource per line) into a store, several at a time.
//!
//! A transaction Bundle is loaded as it is (all of it or none of it). A collection Bundle and a
//! chunk of NDJSON lines become a transaction of their resources (an update for a resource
//! with an id, a create otherwise); when such a transaction fails, its resources are loaded
//! again one by one (as a batch) so that only the bad ones fail, each with its reason.

use crate::fhir::outcome::FhirError;
use crate::interactions::{Fhir, Return};
use crate::partition::Partition;
use anyhow::Context;
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// NDJSON lines per transaction.
const NDJSON_CHUNK: usize = 500;

/// One failed resource or Bundle.
#[derive(Debug, Clone)]
pub struct Failure {
    /// `file`, `file#entry[i]` or `file:line`.
    pub source: String,
    pub reason: String,
    /// Resources not loaded because of it (for an unreadable file: 1).
    pub resources: u64,
}

#[derive(Debug, Default, Clone)]
pub struct ImportReport {
    pub files: usize,
    pub bundles: usize,
    pub resources: u64,
    pub failed: u64,
    pub failures: Vec<Failure>,
    pub seconds: f64,
}

impl ImportReport {
    pub fn per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.resources as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Progress callbacks: bytes of input done, resources loaded so far.
pub trait Progress: Send + Sync {
    fn advance(&self, bytes: u64, resources: u64);
}

/// A transaction (or batch) to run, and where it came from.
struct Unit {
    source: String,
    bundle: Value,
    /// How the entries are named in failure reports: `#entry[i]` or `:line`.
    lines: Option<Vec<usize>>,
    /// A failed transaction is retried as a batch (collections and NDJSON chunks).
    retry_as_batch: bool,
    bytes: u64,
}

/// The input files under `paths` (directories are walked, `*.json` and `*.ndjson` kept).
pub fn input_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        if !p.exists() {
            anyhow::bail!("{} does not exist", p.display());
        }
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for e in entries {
                walk(&e, out)?;
            }
        } else if p.extension().is_some_and(|x| x == "json" || x == "ndjson") {
            out.push(p.to_path_buf());
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out)?;
    }
    Ok(out)
}

/// A transaction entry that stores `resource`: update when it has an id, create otherwise.
fn store_entry(resource: Value, full_url: Option<Value>) -> Value {
    let rt = resource["resourceType"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let request = match resource.get("id").and_then(Value::as_str) {
        Some(id) => json!({"method": "PUT", "url": format!("{rt}/{id}")}),
        None => json!({"method": "POST", "url": rt}),
    };
    let mut e = json!({"resource": resource, "request": request});
    if let Some(u) = full_url {
        e["fullUrl"] = u;
    }
    e
}

fn transaction_of(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

/// The unit a `*.json` file makes.
fn json_unit(path: &Path) -> Result<Unit, Failure> {
    let source = path.display().to_string();
    let fail = |reason: String| Failure {
        source: source.clone(),
        reason,
        resources: 1,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let len = bytes.len() as u64;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| fail(format!("not JSON: {e}")))?;
    let unit = |bundle, retry_as_batch| Unit {
        source: source.clone(),
        bundle,
        lines: None,
        retry_as_batch,
        bytes: len,
    };
    match (value["resourceType"].as_str(), value["type"].as_str()) {
        (Some("Bundle"), Some("transaction" | "batch")) => Ok(unit(value, false)),
        (Some("Bundle"), Some("collection" | "searchset" | "history" | "document")) => {
            let entries = value["entry"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|mut e| {
                    let r = e.get_mut("resource")?.take();
                    Some(store_entry(r, e.get("fullUrl").cloned()))
                })
                .collect();
            Ok(unit(transaction_of(entries), true))
        }
        (Some(_), _) => Ok(unit(transaction_of(vec![store_entry(value, None)]), false)),
        (None, _) => Err(fail("not a FHIR resource (no resourceType)".into())),
    }
}

/// Sends the units of an NDJSON file, `NDJSON_CHUNK` lines at a time.
fn ndjson_units(
    path: &Path,
    send: &tokio::sync::mpsc::Sender<Unit>,
    failures: &Mutex<Vec<Failure>>,
) -> anyhow::Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let source = path.display().to_string();
    let mut entries = Vec::new();
    let mut lines = Vec::new();
    let mut bytes = 0u64;
    let flush = |entries: &mut Vec<Value>, lines: &mut Vec<usize>, bytes: &mut u64| {
        if entries.is_empty() {
            return true;
        }
        let unit = Unit {
            source: source.clone(),
            bundle: transaction_of(std::mem::take(entries)),
            lines: Some(std::mem::take(lines)),
            retry_as_batch: true,
            bytes: std::mem::take(bytes),
        };
        send.blocking_send(unit).is_ok()
    };
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        bytes += line.len() as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(v) => {
                entries.push(store_entry(v, None));
                lines.push(n + 1);
            }
            Err(e) => failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Failure {
                    source: format!("{source}:{}", n + 1),
                    reason: format!("not JSON: {e}"),
                    resources: 1,
                }),
        }
        if entries.len() >= NDJSON_CHUNK && !flush(&mut entries, &mut lines, &mut bytes) {
            return Ok(());
        }
    }
    flush(&mut entries, &mut lines, &mut bytes);
    Ok(())
}

fn entry_source(unit: &Unit, i: usize) -> String {
    match &unit.lines {
        Some(lines) => format!("{}:{}", unit.source, lines.get(i).copied().unwrap_or(0)),
        None => format!("{}#entry[{i}]", unit.source),
    }
}

/// Runs a unit; returns (resources loaded, failures).
async fn run_unit(fhir: &Fhir, p: &Partition, unit: &Unit) -> (u64, Vec<Failure>) {
    let entries = unit.bundle["entry"].as_array().map_or(0, Vec::len) as u64;
    match fhir
        .process_bundle(p, unit.bundle.clone(), Return::Minimal)
        .await
    {
        Ok(response) => {
            let mut ok = 0;
            let mut failures = Vec::new();
            for (i, e) in response["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let status = e["response"]["status"].as_str().unwrap_or("");
                if status.starts_with('2') || status.starts_with('3') {
                    ok += 1;
                } else {
                    failures.push(Failure {
                        source: entry_source(unit, i),
                        reason: format!("{status}: {}", outcome_text(&e["response"]["outcome"])),
                        resources: 1,
                    });
                }
            }
            (ok, failures)
        }
        Err(e) if unit.retry_as_batch && entries > 1 => {
            let mut batch = unit.bundle.clone();
            batch["type"] = json!("batch");
            let retry = Unit {
                source: unit.source.clone(),
                bundle: batch,
                lines: unit.lines.clone(),
                retry_as_batch: false,
                bytes: 0,
            };
            tracing::debug!(
                "{}: transaction failed ({}); loading one by one",
                unit.source,
                e.message()
            );
            Box::pin(run_unit(fhir, p, &retry)).await
        }
        Err(e) => (
            0,
            vec![Failure {
                source: unit.source.clone(),
                reason: failure_text(&e, entries),
                resources: entries,
            }],
        ),
    }
}

fn failure_text(e: &FhirError, entries: u64) -> String {
    let (code, _) = e.kind.http_status();
    format!("{code}: {} ({entries} resources not loaded)", e.message())
}

fn outcome_text(outcome: &Value) -> String {
    outcome["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let d = i["diagnostics"].as_str()?;
            Some(match i["expression"][0].as_str() {
                Some(at) => format!("{d} (at {at})"),
                None => d.to_string(),
            })
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Loads every file, `concurrency` units at a time.
pub async fn import(
    fhir: Arc<Fhir>,
    partition: Partition,
    files: Vec<PathBuf>,
    concurrency: usize,
    progress: Arc<dyn Progress>,
) -> anyhow::Result<ImportReport> {
    let started = Instant::now();
    let failures = Arc::new(Mutex::new(Vec::new()));
    let (send, recv) = tokio::sync::mpsc::channel::<Unit>(concurrency.max(1) * 2);
    let file_count = files.len();
    let reader_failures = failures.clone();
    let reader = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        for f in files {
            if f.extension().is_some_and(|x| x == "ndjson") {
                ndjson_units(&f, &send, &reader_failures)?;
            } else {
                match json_unit(&f) {
                    Ok(u) => {
                        if send.blocking_send(u).is_err() {
                            break;
                        }
                    }
                    Err(fail) => reader_failures
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(fail),
                }
            }
        }
        Ok(())
    });
    let recv = Arc::new(tokio::sync::Mutex::new(recv));
    let totals = Arc::new(Mutex::new((0usize, 0u64)));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (recv, fhir, partition, failures, totals, progress) = (
            recv.clone(),
            fhir.clone(),
            partition.clone(),
            failures.clone(),
            totals.clone(),
            progress.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let unit = recv.lock().await.recv().await;
                let Some(unit) = unit else { break };
                let (ok, failed) = run_unit(&fhir, &partition, &unit).await;
                {
                    let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
                    t.0 += 1;
                    t.1 += ok;
                }
                failures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(failed);
                progress.advance(unit.bytes, ok);
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    reader.await??;
    let (bundles, resources) = *totals.lock().unwrap_or_else(|e| e.into_inner());
    let failures = std::mem::take(&mut *failures.lock().unwrap_or_else(|e| e.into_inner()));
    let failed = failures.iter().map(|f| f.resources).sum();
    Ok(ImportReport {
        files: file_count,
        bundles,
        resources,
        failed,
        failures,
        seconds: started.elapsed().as_secs_f64(),
    })
}
