//! How many of the simplest requests a MongoDB-wire server answers per second on this machine,
//! through the driver fhird uses: the ceiling of fhird's MongoDB store, where every search is
//! at least one such round trip. BENCHMARKS.md compares it with Helios HFS's search throughput.
//!
//!     cargo run --release --example mongo_ceiling -- mongodb://127.0.0.1:27999 [SECONDS] [TASKS]
//!
//! It writes 10,000 small documents to a database of its own (`fhird_ceiling`, dropped at the
//! end), then for each request kind runs TASKS concurrent loops for SECONDS: `ping`, `find`
//! by `_id`, and `find` of one key of a multikey `{k, _id}` index with a limit of 21 (the shape
//! of fhird's token search).

use mongodb::bson::{doc, Document};
use mongodb::{Client, Collection};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DOCS: u64 = 10_000;

#[derive(Clone, Copy)]
enum Kind {
    Ping,
    FindById,
    FindByKey,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ping => "ping",
            Kind::FindById => "find by _id",
            Kind::FindByKey => "find by key, limit 21",
        }
    }
}

/// A cheap spread of ids over the documents (no need for a random generator).
fn pick(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (*seed >> 33) % DOCS
}

async fn one(
    client: &Client,
    coll: &Collection<Document>,
    kind: Kind,
    n: u64,
) -> anyhow::Result<()> {
    match kind {
        Kind::Ping => {
            client
                .database("admin")
                .run_command(doc! {"ping": 1})
                .await?;
        }
        Kind::FindById => {
            coll.find_one(doc! {"_id": format!("{n:08}")}).await?;
        }
        Kind::FindByKey => {
            let mut cursor = coll
                .find(doc! {"k": format!("identifier|urn:test|{n}")})
                .sort(doc! {"_id": 1})
                .limit(21)
                .await?;
            while cursor.advance().await? {}
        }
    }
    Ok(())
}

async fn measure(
    client: &Client,
    coll: &Collection<Document>,
    kind: Kind,
    seconds: u64,
    tasks: usize,
) -> anyhow::Result<(f64, Duration)> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (client, coll, stop) = (client.clone(), coll.clone(), stop.clone());
        handles.push(tokio::spawn(async move {
            let mut seed = t as u64 + 1;
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                one(&client, &coll, kind, pick(&mut seed)).await?;
                latencies.push(started.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let p50 = all.get(all.len() / 2).copied().unwrap_or_default();
    Ok((all.len() as f64 / elapsed, p50))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let uri = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "mongodb://127.0.0.1:27017".into());
    let seconds: u64 = args.get(2).map_or(Ok(10), |s| s.parse())?;
    let tasks: usize = args.get(3).map_or(Ok(8), |s| s.parse())?;
    let client = Client::with_uri_str(&uri).await?;
    let db = client.database("fhird_ceiling");
    db.drop().await?;
    let coll = db.collection::<Document>("c");
    let docs: Vec<Document> = (0..DOCS)
        .map(|i| {
            doc! {
                "_id": format!("{i:08}"),
                "k": [format!("identifier|urn:test|{i}"), format!("gender|{}", i % 2)],
                "res": "x".repeat(500),
            }
        })
        .collect();
    coll.insert_many(docs).await?;
    coll.create_index(
        mongodb::IndexModel::builder()
            .keys(doc! {"k": 1, "_id": 1})
            .build(),
    )
    .await?;
    println!("{uri}: {tasks} tasks, {seconds} s each, {DOCS} documents");
    for kind in [Kind::Ping, Kind::FindById, Kind::FindByKey] {
        let (rate, p50) = measure(&client, &coll, kind, seconds, tasks).await?;
        println!(
            "{:<24} {:>8.0} req/s   p50 {:.3} ms",
            kind.name(),
            rate,
            p50.as_secs_f64() * 1000.0
        );
    }
    db.drop().await?;
    Ok(())
}
