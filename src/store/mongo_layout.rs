//! Which current collections have every document carrying the date hull keys
//! (`mongo_keys::window_keys`), so that two-sided date searches may be narrowed by them.
//!
//! Documents written before the hull keys existed lack them: a window search would leave them
//! out. A collection is recorded in its partition's `…_layout` collection (`fhir._layout`,
//! `payer.{id}._layout`: `{_id: collection, hull: true}`) when this
//! build creates it (every document it will hold gets the keys) and when a type- or
//! system-level `$reindex` has rewritten all of its documents. Until then its date searches
//! run without the keys, as before: slower, never wrong.
//!
//! [`Remembered`] holds what this process last learned of each collection's catalog, here and
//! for the sort indexes (`mongo_sort_indexes`), asked again after [`RECHECK_AFTER`].

use mongodb::bson::{doc, Document};
use mongodb::error::Result;
use mongodb::Database;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long what was learned of a collection's catalog is taken as current before the server
/// is asked again (another process's `$reindex` may record a layout, or a write build indexes).
pub const RECHECK_AFTER: Duration = Duration::from_secs(10);

/// What this process last learned about each collection (collection -> value, when learned).
pub struct Remembered<V> {
    known: Mutex<HashMap<String, (V, Instant)>>,
}

impl<V> Default for Remembered<V> {
    fn default() -> Self {
        Remembered {
            known: Mutex::default(),
        }
    }
}

impl<V: Clone> Remembered<V> {
    /// The value learned of `name`, while `current` holds for it and the time since.
    pub fn get(&self, name: &str, current: impl Fn(&V, Duration) -> bool) -> Option<V> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known
            .get(name)
            .filter(|(v, at)| current(v, at.elapsed()))
            .map(|(v, _)| v.clone())
    }

    pub fn put(&self, name: &str, value: V) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), (value, Instant::now()));
    }

    pub fn forget(&self, name: &str) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }
}

#[derive(Default)]
pub struct HullLayout {
    /// Collection -> whether it is recorded (a recorded one stays so).
    known: Remembered<bool>,
}

impl HullLayout {
    /// Whether every document of the collection `name` carries its hull keys, as recorded in
    /// `layout`.
    pub async fn ready(&self, db: &Database, layout: &str, name: &str) -> Result<bool> {
        let current = |&ready: &bool, age: Duration| ready || age < RECHECK_AFTER;
        if let Some(r) = self.known.get(name, current) {
            return Ok(r);
        }
        let found = db
            .collection::<Document>(layout)
            .find_one(doc! {"_id": name, "hull": true})
            .await?
            .is_some();
        self.known.put(name, found);
        Ok(found)
    }

    /// Records in `layout` that every document of `name` carries its hull keys.
    pub async fn mark(&self, db: &Database, layout: &str, name: &str) -> Result<()> {
        db.collection::<Document>(layout)
            .update_one(doc! {"_id": name}, doc! {"$set": {"hull": true}})
            .upsert(true)
            .await?;
        self.known.put(name, true);
        Ok(())
    }
}
