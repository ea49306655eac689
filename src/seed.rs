//! `fhird seed`: loads the sample data in `seed/` into a store, idempotently.
//!
//! Layout: `seed/default/*.json` for the clinic's partition, `seed/payer/{payerId}/*.json` for
//! each payer's. Every file is a Bundle whose entries carry resources with ids; each is written
//! as an update, so loading twice creates nothing new (an unchanged update keeps its version).
//! The default partition goes first: it holds the payer Organizations that make the payer
//! partitions exist.

use crate::fhir::outcome::FhirError;
use crate::fhir::resource;
use crate::interactions::{Fhir, Op, Outcome, Target, WriteRequest};
use crate::partition::Partition;
use anyhow::{bail, Context};
use serde_json::Value;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

fn json_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files)
}

pub async fn load(fhir: &Fhir, dir: &Path) -> anyhow::Result<SeedReport> {
    let mut report = SeedReport::default();
    for file in json_files(&dir.join("default"))? {
        load_file(fhir, &Partition::Default, &file, &mut report).await?;
    }
    let payers = dir.join("payer");
    if payers.is_dir() {
        let mut ids: Vec<String> = std::fs::read_dir(&payers)?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        ids.sort();
        for id in ids {
            let partition = fhir.payer_partition(&id).await.map_err(|e| {
                anyhow::anyhow!(
                    "seed/payer/{id}: {} (is Organization/{id} a payer in seed/default?)",
                    e.message()
                )
            })?;
            for file in json_files(&payers.join(&id))? {
                load_file(fhir, &partition, &file, &mut report).await?;
            }
        }
    }
    Ok(report)
}

async fn load_file(
    fhir: &Fhir,
    partition: &Partition,
    file: &Path,
    report: &mut SeedReport,
) -> anyhow::Result<()> {
    let text = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let bundle: Value =
        serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let Some(entries) = bundle.get("entry").and_then(Value::as_array) else {
        bail!("{} is not a Bundle with entries", file.display());
    };
    let fail =
        |i: usize, e: FhirError| anyhow::anyhow!("{} entry {i}: {}", file.display(), e.message());
    for (i, entry) in entries.iter().enumerate() {
        let Some(r) = entry.get("resource") else {
            bail!("{} entry {i} has no resource", file.display());
        };
        let r = resource::validate_value(r.clone()).map_err(|e| fail(i, e))?;
        let Some(id) = r.id().map(str::to_string) else {
            bail!("{} entry {i}: seed resources need an id", file.display());
        };
        let rt = r.resource_type.clone();
        let request = WriteRequest {
            resource_type: rt,
            full_url: None,
            op: Op::Update {
                target: Target::Id(id),
                resource: r,
                if_match: None,
            },
        };
        match fhir
            .write_one(partition, request)
            .await
            .map_err(|e| fail(i, e))?
        {
            Outcome::Created(_) => report.created += 1,
            Outcome::Unchanged(_) => report.unchanged += 1,
            _ => report.updated += 1,
        }
    }
    Ok(())
}
