//! How many `find`s of given filters a MongoDB-wire server answers per second: for comparing
//! the forms a search could be sent in, on a real store, with nothing of fhird in the loop.
//!
//!     cargo run --release --example mongo_filter_rate -- URI DB COLLECTION FILTERS [SECONDS] [TASKS] [PROJECT]
//!
//! FILTERS is a file of filters, one JSON object per line; TASKS concurrent loops send them
//! round robin as `find(filter).sort({_id: 1}).limit(21)`, with fhird's page projection when
//! PROJECT is `page` (the default), none when it is `all`, or the JSON projection given.

use mongodb::bson::{doc, Bson, Document};
use mongodb::Collection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A JSON object as a BSON document.
fn document(json: &str) -> anyhow::Result<Document> {
    match Bson::try_from(serde_json::from_str::<serde_json::Value>(json)?)? {
        Bson::Document(d) => Ok(d),
        other => anyhow::bail!("not a JSON object: {other}"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, uri, db, coll, file, ..] = &args[..] else {
        anyhow::bail!("usage: URI DB COLLECTION FILTERS [SECONDS] [TASKS] [page|all]");
    };
    let seconds: u64 = args.get(5).map_or(Ok(10), |s| s.parse())?;
    let tasks: usize = args.get(6).map_or(Ok(8), |s| s.parse())?;
    let projection: Option<Document> = match args.get(7).map(String::as_str) {
        None | Some("page") => Some(fhird::store::mongo::page_projection(
            coll.rsplit('.').next().unwrap_or(coll),
        )),
        Some("all") => None,
        Some(json) => Some(document(json)?),
    };
    let filters: Vec<Document> = std::fs::read_to_string(file)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(document)
        .collect::<anyhow::Result<_>>()?;
    let client = mongodb::Client::with_uri_str(uri).await?;
    let coll: Collection<Document> = client.database(db).collection(coll);
    let filters = Arc::new(filters);
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (coll, stop, filters) = (coll.clone(), stop.clone(), filters.clone());
        let projection = projection.clone();
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut docs = 0u64;
            let mut i = t;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let mut find = coll
                    .find(filters[i % filters.len()].clone())
                    .sort(doc! {"_id": 1})
                    .limit(21);
                if let Some(p) = &projection {
                    find = find.projection(p.clone());
                }
                let mut cursor = find.await?;
                while cursor.advance().await? {
                    docs += 1;
                }
                latencies.push(started.elapsed());
                i += tasks;
            }
            anyhow::Ok((latencies, docs))
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut all, mut docs) = (Vec::new(), 0);
    for h in handles {
        let (l, d) = h.await??;
        all.extend(l);
        docs += d;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let p50: Duration = all.get(all.len() / 2).copied().unwrap_or_default();
    println!(
        "{:>8.0} finds/s  p50 {:.3} ms  {:.2} documents a find",
        all.len() as f64 / elapsed,
        p50.as_secs_f64() * 1000.0,
        docs as f64 / all.len().max(1) as f64
    );
    Ok(())
}
