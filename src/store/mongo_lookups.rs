//! Concurrent reads that one key decides, sent to the server together as one `find`: searches
//! that one match key decides (`Patient?identifier=…`, a chain's inner look-up) and reads of
//! resources by id.
//!
//! A MongoDB-wire server spends most of such a read on the command, not on the key: on
//! SecantusDB 0.5.3 (20,000 documents of 53 keys and 1.5 KB, pymongo, server CPU per look-up)
//! one `find` per key costs 122–164 µs, one `find` of `{k: {$in: [8 keys]}}` 40–46 µs a key,
//! 16 keys 33 µs; by id (the 100k benchmark store, 2,000 reads) one `find` each 65–70 µs,
//! `{_id: {$in: [8 ids]}}` 20–25 µs an id. So while one batch of a lane (a collection and page
//! size) is at the server, the reads that arrive wait and go together in the next; a read that
//! finds nothing under way goes at once and alone, exactly as it would without batching (no
//! added latency on an idle server). A read waits only for a batch sent after it arrived, so
//! it sees every write acknowledged before it.
//!
//! A batch of searches reads `{k: {$in: every key and marker}}` in `_id` order with each
//! document's keys (`k`), so each search gets exactly the documents with one of its keys, in
//! its order. Two cases go back to one `find` per search (the search's own filter): a
//! document that carries a parameter's overflow marker (its entries, not a key, decide
//! whether it matches; rare: documents past 8,000 keys), and, when the batch filled its
//! limit, a search with fewer documents than its page (more of them may lie past the batch's
//! last document). A search with a full page has every document it needs: its page's
//! documents all come before its last one in `_id` order. A batch of reads by id reads
//! `{_id: {$in: every id}}`.

use super::mongo_search::KeyLookup;
use super::StoreResult;
use mongodb::bson::{doc, Bson, Document};
use mongodb::Collection;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// The field of a batch's documents that lists the keys and markers each has: their match
/// keys, read whole. A projection of only the batch's keys among them costs SecantusDB more
/// than the read itself (next to `batch_read`).
const HAS: &str = super::mongo_keys::FIELD;

/// Batches of one lane that may be at the server at once, unless configured
/// (`FHIRD_MONGO_LOOKUP_BATCHES`; 0 sends every read alone).
pub const RUNNING: usize = 2;

/// Most reads in one batch.
const MOST: usize = 32;

/// What one read asks, alone or in a batch of its kind.
pub trait Ask: Send + Sync + 'static {
    /// Its own filter and limit, for pages of `page`: what it sends when it goes alone.
    fn alone(&self, page: i64) -> (Document, i64);
    /// The filter, projection and limit of one read for all of `asks`, for pages of `page`
    /// with `fields`.
    fn together(asks: &[&Self], page: i64, fields: &Document) -> (Document, Document, i64);
    /// Which of a batch's documents (in `_id` order) answer each of `asks`, as indexes into
    /// `docs`; `None` for one that must be read alone. `full`: the batch filled its limit.
    fn assign(docs: &[Document], asks: &[&Self], page: i64, full: bool) -> Vec<Option<Vec<usize>>>;
}

/// A search's first page, which one key per ORed value decides.
pub struct Lookup {
    /// The search's own filter: what it sends when it goes alone.
    pub filter: Document,
    /// Its keys (ORed values, each deciding alone) and its parameter's marker.
    pub key: KeyLookup,
}

impl Ask for Lookup {
    fn alone(&self, page: i64) -> (Document, i64) {
        (self.filter.clone(), page)
    }

    fn together(asks: &[&Self], page: i64, fields: &Document) -> (Document, Document, i64) {
        let mut wanted: Vec<&str> = asks.iter().flat_map(|a| a.key.wanted()).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let distinct = {
            let mut sets: Vec<&[String]> = asks.iter().map(|a| a.key.keys.as_slice()).collect();
            sets.sort_unstable();
            sets.dedup();
            sets.len() as i64
        };
        let (filter, fields) = batch_read(&wanted, fields);
        (filter, fields, page.saturating_mul(distinct))
    }

    fn assign(docs: &[Document], asks: &[&Self], page: i64, full: bool) -> Vec<Option<Vec<usize>>> {
        let searches: Vec<(&[String], Option<&str>)> = asks
            .iter()
            .map(|a| (a.key.keys.as_slice(), a.key.marker.as_deref()))
            .collect();
        assign(docs, &searches, page, full)
    }
}

/// A read of the resources with these ids (their current documents, deleted or not).
pub struct IdRead(pub Vec<String>);

impl Ask for IdRead {
    fn alone(&self, _page: i64) -> (Document, i64) {
        let filter = match self.0.as_slice() {
            [id] => doc! {"_id": id.as_str()},
            ids => doc! {"_id": {"$in": ids}},
        };
        (filter, self.0.len() as i64)
    }

    fn together(asks: &[&Self], _page: i64, fields: &Document) -> (Document, Document, i64) {
        let mut ids: Vec<&str> = asks.iter().flat_map(|a| &a.0).map(String::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        let limit = ids.len() as i64;
        (doc! {"_id": {"$in": ids}}, fields.clone(), limit)
    }

    fn assign(
        docs: &[Document],
        asks: &[&Self],
        _page: i64,
        _full: bool,
    ) -> Vec<Option<Vec<usize>>> {
        asks.iter()
            .map(|a| {
                let wanted =
                    |d: &Document| d.get_str("_id").is_ok_and(|id| a.0.iter().any(|w| w == id));
                Some((0..docs.len()).filter(|&i| wanted(&docs[i])).collect())
            })
            .collect()
    }
}

struct Waiter<A> {
    ask: A,
    answer: oneshot::Sender<StoreResult<Vec<Document>>>,
}

/// What is read the same way for every read of a lane.
struct Read {
    coll: Collection<Document>,
    fields: Document,
    limit: i64,
    max_time: Duration,
}

impl Read {
    /// The first `limit` documents of `filter` in `_id` order, with `fields`.
    async fn page(
        &self,
        filter: Document,
        limit: i64,
        fields: &Document,
    ) -> StoreResult<Vec<Document>> {
        super::mongo::find_page(
            &self.coll,
            fields,
            filter,
            doc! {"_id": 1},
            limit,
            None,
            self.max_time,
        )
        .await
    }
}

struct Lane<A> {
    waiting: Vec<Waiter<A>>,
    running: usize,
}

impl<A> Default for Lane<A> {
    fn default() -> Self {
        Lane {
            waiting: Vec::new(),
            running: 0,
        }
    }
}

/// A lane per collection and page size (reads of one kind in the default order read the
/// same fields of a collection).
type Lanes<A> = Mutex<HashMap<(String, i64), Lane<A>>>;

struct Shared<A> {
    lanes: Lanes<A>,
    /// Batches of one lane that may be at the server at once.
    running: usize,
    /// Reads answered from a batch of several so far.
    batched: AtomicU64,
}

/// Concurrent reads of one kind, read together.
pub struct Batcher<A>(Arc<Shared<A>>);

impl<A: Ask> Batcher<A> {
    /// At most `running` batches of a lane at the server at once; with none, every read
    /// goes alone.
    pub fn new(running: usize) -> Batcher<A> {
        Batcher(Arc::new(Shared {
            lanes: Mutex::new(HashMap::new()),
            running,
            batched: AtomicU64::new(0),
        }))
    }

    /// How many reads were answered from a batch of several so far.
    pub fn batched(&self) -> u64 {
        self.0.batched.load(Ordering::Relaxed)
    }

    /// The first `limit` documents, in `_id` order, that `ask` asks for.
    pub async fn read(
        &self,
        coll: &Collection<Document>,
        fields: &Document,
        limit: i64,
        max_time: Duration,
        ask: A,
    ) -> StoreResult<Vec<Document>> {
        let read = || Read {
            coll: coll.clone(),
            fields: fields.clone(),
            limit,
            max_time,
        };
        if self.0.running == 0 {
            let (filter, limit) = ask.alone(limit);
            return read().page(filter, limit, fields).await;
        }
        let (answer, answered) = oneshot::channel();
        let lane = (coll.name().to_string(), limit);
        let start = {
            let mut lanes = self.0.lanes.lock().unwrap_or_else(|e| e.into_inner());
            let l = lanes.entry(lane.clone()).or_default();
            l.waiting.push(Waiter { ask, answer });
            let start = l.running < self.0.running;
            if start {
                l.running += 1;
            }
            start
        };
        if start {
            // A task of its own: the batch answers other requests too, which must not depend
            // on this one's client staying connected.
            tokio::spawn(drain(self.0.clone(), lane, read()));
        }
        answered.await.unwrap_or_else(|_| {
            Err(super::StoreError::Other(
                "a batched read ended without an answer".into(),
            ))
        })
    }
}

/// Sends the lane's waiting reads, a batch at a time, until none wait.
async fn drain<A: Ask>(shared: Arc<Shared<A>>, lane: (String, i64), read: Read) {
    // Leaves the lane if the task ends early (a panic), so that the lane never counts a batch
    // that is no longer running. A normal end leaves it under the same lock that found no
    // one waiting: a read that comes after that starts a batch of its own.
    struct Running<'a, A>(&'a Lanes<A>, &'a (String, i64));
    impl<A> Drop for Running<'_, A> {
        fn drop(&mut self) {
            leave(
                &mut self.0.lock().unwrap_or_else(|e| e.into_inner()),
                self.1,
            );
        }
    }
    fn leave<A>(lanes: &mut HashMap<(String, i64), Lane<A>>, lane: &(String, i64)) {
        if let Some(l) = lanes.get_mut(lane) {
            l.running -= 1;
            if l.running == 0 && l.waiting.is_empty() {
                lanes.remove(lane);
            }
        }
    }
    let running = Running(&shared.lanes, &lane);
    loop {
        let batch: Vec<Waiter<A>> = {
            let mut lanes = shared.lanes.lock().unwrap_or_else(|e| e.into_inner());
            let Some(l) = lanes.get_mut(&lane) else {
                std::mem::forget(running);
                return;
            };
            if l.waiting.is_empty() {
                leave(&mut lanes, &lane);
                std::mem::forget(running);
                return;
            }
            let n = l.waiting.len().min(MOST);
            l.waiting.drain(..n).collect()
        };
        let batched = send(&read, batch).await;
        shared.batched.fetch_add(batched, Ordering::Relaxed);
    }
}

/// Reads one batch and answers each of its reads; how many it answered from the batch.
async fn send<A: Ask>(read: &Read, batch: Vec<Waiter<A>>) -> u64 {
    if batch.len() == 1 {
        alone(read, batch).await;
        return 0;
    }
    let asks: Vec<&A> = batch.iter().map(|w| &w.ask).collect();
    let (filter, fields, limit) = A::together(&asks, read.limit, &read.fields);
    let docs = read.page(filter, limit, &fields).await;
    let Ok(mut docs) = docs else {
        // Each read gets its own answer (an error of its own, or its page).
        alone(read, batch).await;
        return 0;
    };
    let full = i64::try_from(docs.len()).unwrap_or(i64::MAX) >= limit;
    let pages = A::assign(&docs, &asks, read.limit, full);
    for d in &mut docs {
        d.remove(HAS);
    }
    let mut again = Vec::new();
    let mut answered = 0;
    for (w, page) in batch.into_iter().zip(pages) {
        match page {
            Some(page) => {
                let page = page.into_iter().map(|i| docs[i].clone()).collect();
                let _ = w.answer.send(Ok(page));
                answered += 1;
            }
            None => again.push(w),
        }
    }
    if !again.is_empty() {
        alone(read, again).await;
    }
    answered
}

/// The filter and projection of a batch that asks for the keys and markers `wanted`: the
/// documents with any of them, each with its keys in [`HAS`].
///
/// Measured with pymongo on the 100k benchmark store (1,600 identifier look-ups of Patients
/// with ~55 keys, batches of 8 / 16, SecantusDB CPU per search): no key projection 31 / 19 µs,
/// the whole `k` 44 / 31 µs, `$setIntersection` of `k` and the batch's keys 63 / 56 µs,
/// `$filter` of `k` by them 81–94 µs: the server evaluates expressions per document far more
/// slowly than fhird checks a few dozen keys.
pub fn batch_read(wanted: &[&str], fields: &Document) -> (Document, Document) {
    let mut fields = fields.clone();
    fields.insert(HAS, 1);
    (doc! {super::mongo_keys::FIELD: {"$in": wanted}}, fields)
}

/// Each read with its own filter, at once.
async fn alone<A: Ask>(read: &Read, reads: Vec<Waiter<A>>) {
    let reads = reads.into_iter().map(|w| async move {
        let (filter, limit) = w.ask.alone(read.limit);
        let page = read.page(filter, limit, &read.fields).await;
        let _ = w.answer.send(page);
    });
    futures_util::future::join_all(reads).await;
}

/// Which of a batch's documents (in `_id` order, each with its keys and markers in [`HAS`])
/// answer each search (its keys and its marker), as indexes into
/// `docs`; `None` for a search that must be read alone: a document with its marker came, or
/// the batch was `full` (it may have stopped before the search's page did) and the search's
/// page is short.
fn assign(
    docs: &[Document],
    searches: &[(&[String], Option<&str>)],
    limit: i64,
    full: bool,
) -> Vec<Option<Vec<usize>>> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let held: Vec<HashSet<&str>> = docs
        .iter()
        .map(|d| {
            let keys = d.get_array(HAS).map(Vec::as_slice).unwrap_or_default();
            keys.iter().filter_map(Bson::as_str).collect()
        })
        .collect();
    searches
        .iter()
        .map(|(keys, marker)| {
            let mut page = Vec::new();
            for (i, held) in held.iter().enumerate() {
                let has = |k: &str| held.contains(k);
                if marker.is_some_and(has) {
                    return None;
                }
                if page.len() < limit && keys.iter().any(|k| has(k)) {
                    page.push(i);
                }
            }
            (!full || page.len() >= limit).then_some(page)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(id: &str, has: &[&str]) -> Document {
        doc! {"_id": id, HAS: has.to_vec()}
    }

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_search_gets_the_documents_with_one_of_its_keys_in_order() {
        let docs = [
            d("1", &["a"]),
            d("2", &["a", "b"]),
            d("3", &["c"]),
            d("4", &["b"]),
        ];
        let (a, b, bc, x) = (keys(&["a"]), keys(&["b"]), keys(&["b", "c"]), keys(&["x"]));
        let searches = [
            (a.as_slice(), None),
            (b.as_slice(), None),
            (bc.as_slice(), None),
            (x.as_slice(), None),
        ];
        assert_eq!(
            assign(&docs, &searches, 21, false),
            vec![
                Some(vec![0, 1]),
                Some(vec![1, 3]),
                Some(vec![1, 2, 3]),
                Some(vec![])
            ]
        );
    }

    #[test]
    fn a_page_stops_at_its_limit() {
        let docs = [d("1", &["a"]), d("2", &["a"]), d("3", &["a"])];
        let a = keys(&["a"]);
        assert_eq!(
            assign(&docs, &[(a.as_slice(), None)], 2, false),
            vec![Some(vec![0, 1])]
        );
    }

    #[test]
    fn a_short_page_of_a_full_batch_is_read_alone() {
        // The batch's limit stopped it at document 3: "b" may have more after it, "a" has
        // its whole page before it.
        let docs = [d("1", &["a"]), d("2", &["a", "b"]), d("3", &["a"])];
        let (a, b) = (keys(&["a"]), keys(&["b"]));
        assert_eq!(
            assign(
                &docs,
                &[(a.as_slice(), None), (b.as_slice(), None)],
                2,
                true
            ),
            vec![Some(vec![0, 1]), None]
        );
    }

    #[test]
    fn a_document_with_a_search_s_marker_sends_that_search_alone() {
        let docs = [d("1", &["a"]), d("2", &["~|p"])];
        let (a, b) = (keys(&["a"]), keys(&["b"]));
        assert_eq!(
            assign(
                &docs,
                &[(a.as_slice(), Some("~|p")), (b.as_slice(), Some("~|q"))],
                21,
                false
            ),
            vec![None, Some(vec![])]
        );
    }

    #[test]
    fn each_read_by_id_gets_its_documents() {
        let docs = [doc! {"_id": "a"}, doc! {"_id": "c"}];
        let one = |id: &str| IdRead(vec![id.to_string()]);
        let reads = [
            one("c"),
            one("b"),
            one("a"),
            one("c"),
            IdRead(vec!["c".into(), "b".into(), "a".into()]),
        ];
        let asks: Vec<&IdRead> = reads.iter().collect();
        assert_eq!(
            IdRead::assign(&docs, &asks, 1, true),
            vec![
                Some(vec![1]),
                Some(vec![]),
                Some(vec![0]),
                Some(vec![1]),
                Some(vec![0, 1])
            ]
        );
        let (filter, _, limit) = IdRead::together(&asks, 1, &doc! {"v": 1});
        assert_eq!(filter, doc! {"_id": {"$in": ["a", "b", "c"]}});
        assert_eq!(limit, 3);
        assert_eq!(
            reads[4].alone(1),
            (doc! {"_id": {"$in": ["c", "b", "a"]}}, 3)
        );
        assert_eq!(reads[0].alone(1), (doc! {"_id": "c"}, 1));
    }
}
