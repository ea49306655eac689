//! The first read of each current collection in this process goes alone and without a time
//! limit: a look-up of one `_id` that no document has, which every other read of the
//! collection waits for.
//!
//! SecantusDB (the MongoDB-wire server the tests and benchmarks run on) learns which paths of
//! a multikey index hold arrays the first time it plans a query on the collection after it
//! starts, by reading every document of the collection into memory, once per multikey index
//! (`secantus-storage` 0.5.3, `Storage::multikey_paths_of`). Measured on the 1M benchmark
//! store (521,416 Observations of ~6 KB, seven multikey indexes): that first `find` by `_id`
//! took 156 s while the server's memory swung between 9.7 and 13 GB; afterwards the date
//! searches ran at 320 req/s with the memory flat. Two consequences without this gate:
//! - a search's first read carries `maxTimeMS` (`search_common::SEARCH_MAX_TIME`, 60 s), so
//!   the server stops its own scan; nothing is learned and every later search starts it again,
//!   each answered `too-costly`;
//! - concurrent first reads scan at once, each holding the collection: eight of them took
//!   SecantusDB past the machine's 23 GB and the kernel killed it (session 17, BENCHMARKS.md).
//!
//! On MongoDB the look-up costs one round trip per collection and process. A read that runs
//! out of time forgets its collection ([`FirstReads::forget`]), so the next read looks it up
//! again: that is how a server restarted under a running fhird gets its scan back.

use futures_util::future::{BoxFuture, FutureExt, Shared};
use mongodb::bson::{doc, Document};
use mongodb::error::{Error, Result};
use mongodb::Collection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// An `_id` no stored document has (ids are at most 64 characters of `[A-Za-z0-9\-.]`).
const NO_SUCH_ID: &str = "~first-read";

/// A first read, awaited by every read of its collection that comes while it runs.
type FirstRead = Shared<BoxFuture<'static, Result<()>>>;

#[derive(Default)]
pub struct FirstReads {
    /// Collection -> its first read, done or under way.
    done: Mutex<HashMap<String, FirstRead>>,
    /// First reads made so far.
    made: AtomicU64,
}

impl FirstReads {
    /// Waits until the collection has had its first read in this process, starting it when
    /// none is under way. The look-up runs as a task of its own: a request given up by its
    /// client (which drops what it awaits) must not leave the next one to send a second
    /// look-up while the server still works on the first.
    pub async fn before_reading(&self, coll: &Collection<Document>) -> Result<()> {
        let read = {
            let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
            // Every read passes here: look the name up before allocating a key for it.
            match done.get(coll.name()) {
                Some(read) => read.clone(),
                None => {
                    self.made.fetch_add(1, Ordering::Relaxed);
                    let target = coll.clone();
                    let task = tokio::spawn(async move {
                        target.find_one(doc! {"_id": NO_SUCH_ID}).await.map(|_| ())
                    });
                    let read = async move { task.await.map_err(|e| Error::custom(e.to_string()))? }
                        .boxed()
                        .shared();
                    done.insert(coll.name().to_string(), read.clone());
                    read
                }
            }
        };
        let answer = read.clone().await;
        if answer.is_err() {
            // Failed (the server was down, say): the next read tries again.
            let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
            if done.get(coll.name()).is_some_and(|r| r.ptr_eq(&read)) {
                done.remove(coll.name());
            }
        }
        answer
    }

    /// The collection's next read is a first read again.
    pub fn forget(&self, name: &str) {
        self.done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    /// Whether the collection has had its first read in this process.
    pub fn has_read(&self, name: &str) -> bool {
        self.done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .is_some_and(|r| matches!(r.peek(), Some(Ok(()))))
    }

    /// How many first reads this process has made.
    pub fn made(&self) -> u64 {
        self.made.load(Ordering::Relaxed)
    }
}
