//! Which current collections have every document carrying the date hull keys
//! (`mongo_keys::window_keys`), so that two-sided date searches may be narrowed by them.
//!
//! Documents written before the hull keys existed lack them: a window search would leave them
//! out. A collection is recorded in its partition's `…_layout` collection (`fhir._layout`,
//! `payer.{id}._layout`: `{_id: collection, hull: true}`) when this
//! build creates it (every document it will hold gets the keys) and when a type- or
//! system-level `$reindex` has rewritten all of its documents. Until then its date searches
//! run without the keys, as before: slower, never wrong.

use mongodb::bson::{doc, Document};
use mongodb::error::Result;
use mongodb::Database;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a collection found without the record is taken to lack it before asking again
/// (another process's `$reindex` may record it).
const RECHECK_AFTER: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct HullLayout {
    /// Collection -> (recorded, when this process last looked).
    known: Mutex<HashMap<String, (bool, Instant)>>,
}

impl HullLayout {
    fn cached(&self, name: &str) -> Option<bool> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        match known.get(name) {
            Some((true, _)) => Some(true),
            Some((false, at)) if at.elapsed() < RECHECK_AFTER => Some(false),
            _ => None,
        }
    }

    fn remember(&self, name: &str, ready: bool) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), (ready, Instant::now()));
    }

    /// Whether every document of the collection `name` carries its hull keys, as recorded in
    /// `layout`.
    pub async fn ready(&self, db: &Database, layout: &str, name: &str) -> Result<bool> {
        if let Some(r) = self.cached(name) {
            return Ok(r);
        }
        let found = db
            .collection::<Document>(layout)
            .find_one(doc! {"_id": name, "hull": true})
            .await?
            .is_some();
        self.remember(name, found);
        Ok(found)
    }

    /// Records in `layout` that every document of `name` carries its hull keys.
    pub async fn mark(&self, db: &Database, layout: &str, name: &str) -> Result<()> {
        db.collection::<Document>(layout)
            .update_one(doc! {"_id": name}, doc! {"$set": {"hull": true}})
            .upsert(true)
            .await?;
        self.remember(name, true);
        Ok(())
    }
}
