//! Reading one match key's index range in `_id` windows, for a page in `_id` order.
//!
//! SecantusDB reads the whole index range of a query's driving predicate whatever the limit
//! (docs/mongodb.md): the first page of a patient's 1,818 Observations in a date range costs as
//! much as reading all 1,818 keys and documents (40-60 ms). The same range cut by an `_id`
//! bound is read only inside the bound, so a page is read window by window, in order, until it
//! is full: the first window is a small share of the id space, later ones are sized from what
//! the earlier ones held. The windows cover the whole id space between them, so the page is
//! the one a single query would give. MongoDB stops at the page's end by itself; there the
//! windows cost at most a few extra round trips for a search with few matches.
//!
//! Server-assigned ids are random UUIDs, evenly spread over 256 buckets of their first two hex
//! digits. Other ids (client-chosen, like `example`) still fall in some bucket; they are only
//! spread less evenly.

use std::collections::HashMap;
use std::sync::Mutex;

/// How finely the id space is cut and how the windows grow.
#[derive(Debug, Clone, Copy)]
struct Grain {
    /// Hex digits of an id that name its bucket (2: 256 buckets).
    digits: u32,
    /// Buckets in the first window.
    first: u32,
    /// After windows without a match, how many times the buckets read so far the next window
    /// takes (`None`: all the rest at once).
    empty_growth: Option<u32>,
}

/// One match key's range: 256 buckets, a first window of 1/64, the rest at once after empty
/// windows (a key's documents are few next to the collection's).
const KEYED: Grain = Grain {
    digits: 2,
    first: 4,
    empty_growth: None,
};

/// A whole collection (a search that no key narrows): 4,096 buckets, a first window of one
/// (about 130 documents of 533k), growing at most eightfold after empty windows, so that no
/// single query asks SecantusDB for a large part of the collection at once.
const WHOLE: Grain = Grain {
    digits: 3,
    first: 1,
    empty_growth: Some(8),
};

/// One `_id` bound: the value, and whether it is included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub id: String,
    pub inclusive: bool,
}

/// The `_id` range of one window; `None` leaves that side open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub low: Option<Bound>,
    pub high: Option<Bound>,
}

impl Grain {
    fn buckets(self) -> u32 {
        1 << (4 * self.digits)
    }

    /// Lower edge of bucket `b` (bucket 0 has none).
    fn edge(self, b: u32) -> String {
        format!("{b:0width$x}", width = self.digits as usize)
    }

    /// The bucket an id falls in: the number of edges (`01` … `ff`, or `001` … `fff`) at or
    /// below it.
    fn bucket_of(self, id: &str) -> u32 {
        let (mut lo, mut hi) = (0, self.buckets() - 1);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if self.edge(mid).as_str() <= id {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }
}

/// The windows of one page, in the page's order.
pub struct Windows {
    grain: Grain,
    descending: bool,
    /// Buckets not read yet, in scan order: `next .. BUCKETS` ascending, `0 ..= next` mirrored.
    next: u32,
    /// Where the page starts: the cursor's id (excluded), when there is one.
    after: Option<String>,
    /// Buckets read so far, and the matches they held.
    read: u32,
    found: usize,
    need: usize,
    /// Whether the first window was all the id space left, and the matches it held once
    /// known.
    first_took_rest: bool,
    first_found: Option<usize>,
}

impl Windows {
    /// Windows for a page of `need` matches after `after` (the cursor's id) in ascending or
    /// descending `_id` order.
    pub fn new(descending: bool, after: Option<&str>, need: usize) -> Self {
        Self::with_grain(KEYED, descending, after, need)
    }

    /// The same with a first window of `first` buckets (of 256; see [`FirstWindows`]).
    pub fn keyed(descending: bool, after: Option<&str>, need: usize, first: u32) -> Self {
        let grain = Grain {
            first: first.clamp(1, KEYED.buckets()),
            ..KEYED
        };
        Self::with_grain(grain, descending, after, need)
    }

    /// Windows over a whole collection (no key narrows the search), in finer steps.
    pub fn whole(descending: bool, after: Option<&str>, need: usize) -> Self {
        Self::with_grain(WHOLE, descending, after, need)
    }

    fn with_grain(grain: Grain, descending: bool, after: Option<&str>, need: usize) -> Self {
        let buckets = grain.buckets();
        let start = after.map_or(0, |id| {
            let b = grain.bucket_of(id);
            if descending {
                buckets - 1 - b
            } else {
                b
            }
        });
        Windows {
            grain,
            descending,
            next: start,
            after: after.map(str::to_string),
            read: 0,
            found: 0,
            need,
            first_took_rest: false,
            first_found: None,
        }
    }

    /// Once the windows are done: whether the first one alone filled the page. `None` when
    /// the page was never filled (the key has fewer matches than a page, so no first window
    /// would have done) or the first window was all the id space left.
    pub fn first_filled(&self) -> Option<bool> {
        let first = self.first_found?;
        (self.found >= self.need && !self.first_took_rest).then_some(first >= self.need)
    }

    /// The next window to read, given how many matches the previous one held; `None` when
    /// the page is full or the id space is read.
    pub fn next(&mut self, found_in_last: usize) -> Option<Window> {
        let (grain, buckets) = (self.grain, self.grain.buckets());
        self.found += found_in_last;
        if self.read > 0 && self.first_found.is_none() {
            self.first_found = Some(found_in_last);
        }
        if self.found >= self.need || self.next >= buckets {
            return None;
        }
        let left = buckets - self.next;
        let width = if self.read == 0 {
            grain.first
        } else if self.found == 0 {
            // Nothing yet: few matches overall, read the rest at once (or a bounded step).
            grain
                .empty_growth
                .map_or(left, |g| self.read.saturating_mul(g))
        } else {
            // Sized from the density so far, with half again as margin.
            let missing = (self.need - self.found) as u64;
            let per = (missing * u64::from(self.read) * 3).div_ceil(self.found as u64 * 2);
            u32::try_from(per).unwrap_or(u32::MAX).max(1)
        }
        .min(left);
        let (from, to) = (self.next, self.next + width);
        let first = self.read == 0;
        if first {
            // A window that could not be smaller says nothing about the width to start with.
            self.first_took_rest = width == left;
        }
        self.read += width;
        self.next = to;
        // In id terms (ascending buckets), the window is buckets lo..hi.
        let (lo, hi) = if self.descending {
            (buckets - to, buckets - from)
        } else {
            (from, to)
        };
        let cursor = self.after.clone().filter(|_| first);
        let open_low = |b: u32| {
            (b > 0).then(|| Bound {
                id: grain.edge(b),
                inclusive: true,
            })
        };
        let open_high = |b: u32| {
            (b < buckets).then(|| Bound {
                id: grain.edge(b),
                inclusive: false,
            })
        };
        let at_cursor = |id: String| Bound {
            id,
            inclusive: false,
        };
        Some(if self.descending {
            Window {
                low: open_low(lo),
                high: cursor.map(at_cursor).or_else(|| open_high(hi)),
            }
        } else {
            Window {
                low: cursor.map(at_cursor).or_else(|| open_low(lo)),
                high: open_high(hi),
            }
        })
    }
}

/// The first window of a keyed page, learned per query shape (collection, parameter): a
/// patient's Encounters (~120 at 100k and 1M) fill a page from about a fifth of the id
/// space, so a first window of 1/64 costs nearly every such page a second `find`, while a
/// patient's Observations (~1,200) fill one from 1/64. Each page whose key had a page of
/// matches moves its shape's width: up by a quarter when the first window fell short, down
/// by a twentieth when it filled the page, so about four pages in five take one `find`
/// (the width settles where ln 1.25 × shortfalls = −ln 0.95 × fills). Kept between 1/64
/// (the fixed first window before) and 1/4, so a key with many more matches than its shape's
/// usual reads at most a quarter of its range for a page. The windows cover the whole space
/// whatever the first width, so pages are the same; only the reads differ.
/// Measured on the 100k store (`Encounter?subject=…&_include=Encounter:subject`, the
/// benchmark's include kind, wrk 8 connections, A/B against one SecantusDB): see BENCHMARKS.md.
#[derive(Default)]
pub struct FirstWindows {
    widths: Mutex<HashMap<String, f64>>,
}

/// Bounds of a learned first window, in buckets of 256.
const FIRST_MIN: f64 = KEYED.first as f64;
const FIRST_MAX: f64 = 64.0;
const GROW: f64 = 1.25;
const SHRINK: f64 = 0.95;

impl FirstWindows {
    /// The first window for a page of `shape`, in buckets.
    pub fn width(&self, shape: &str) -> u32 {
        let widths = self.widths.lock().unwrap_or_else(|e| e.into_inner());
        widths.get(shape).copied().unwrap_or(FIRST_MIN).round() as u32
    }

    /// What a page of `shape` showed ([`Windows::first_filled`]).
    pub fn learn(&self, shape: &str, first_filled: Option<bool>) {
        let Some(filled) = first_filled else {
            return;
        };
        let mut widths = self.widths.lock().unwrap_or_else(|e| e.into_inner());
        // Shapes are collections × parameters: a bounded set.
        let w = widths.entry(shape.to_string()).or_insert(FIRST_MIN);
        *w = (*w * if filled { SHRINK } else { GROW }).clamp(FIRST_MIN, FIRST_MAX);
    }
}

/// The two halves of the id space, at `8` (the middle of the first hex digit of the
/// server's random UUIDs; other ids fall on either side, unevenly but exactly once), in which
/// a long key range is counted at once, one `count` per half.
///
/// SecantusDB counts by reading every matching document (secantus-storage `count_matching`:
/// about 12 µs a match on the 1M store), one command on one thread, so a count of a common
/// code takes as long as its matches; halves run on two threads. Measured with pymongo on the
/// 1M store (400 `_summary=count` codes of the benchmark, 1 client): whole 84–96 ms p50,
/// halves 55 ms. Not more parts: it enters a `{k, _id}` range at the key's start whatever
/// the near bound, so each further part re-reads the keys before it (four parts: 130 ms).
pub fn halves() -> [Window; 2] {
    let middle = || Bound {
        id: "8".to_string(),
        inclusive: false,
    };
    [
        Window {
            low: None,
            high: Some(middle()),
        },
        Window {
            low: Some(Bound {
                inclusive: true,
                ..middle()
            }),
            high: None,
        },
    ]
}

/// Windows over a whole collection that together read every match once, in ascending `_id`
/// order, each sized to hold about `target` matches from the density seen so far (growing at
/// most eightfold over what was read, so a sparse start never turns into one query for the
/// rest of the collection). For a read of every match (a sort no index gives, done by the
/// caller), where SecantusDB would otherwise hold the whole candidate set at once.
pub struct Sweep {
    next: u32,
    read: u32,
    found: usize,
    target: usize,
}

impl Sweep {
    pub fn new(target: usize) -> Self {
        Sweep {
            next: 0,
            read: 0,
            found: 0,
            target: target.max(1),
        }
    }

    /// The next window, given how many matches the previous one held; `None` once every
    /// bucket is read.
    pub fn next(&mut self, found_in_last: usize) -> Option<Window> {
        let buckets = WHOLE.buckets();
        self.found += found_in_last;
        if self.next >= buckets {
            return None;
        }
        let growth = self.read.saturating_mul(8).max(WHOLE.first);
        let width = if self.read == 0 {
            WHOLE.first
        } else if self.found == 0 {
            growth
        } else {
            let per = (self.target as u64 * u64::from(self.read)) / self.found as u64;
            u32::try_from(per).unwrap_or(u32::MAX).clamp(1, growth)
        }
        .min(buckets - self.next);
        let (lo, hi) = (self.next, self.next + width);
        self.next = hi;
        self.read += width;
        Some(Window {
            low: (lo > 0).then(|| Bound {
                id: WHOLE.edge(lo),
                inclusive: true,
            }),
            high: (hi < buckets).then(|| Bound {
                id: WHOLE.edge(hi),
                inclusive: false,
            }),
        })
    }
}

/// Windows over `_lastUpdated` for a page in `_lastUpdated` order that nothing else narrows
/// (`Observation?_sort=-_lastUpdated`, the next pages of it): SecantusDB reads the whole
/// `{t, _id}` range a query names before it stops at the limit (200k documents: 395 ms for
/// 21), so the page is asked of a window reaching back (or forward) from its edge — now, or
/// the cursor's time — 1 s first, sixteen times wider each time the window held less than a
/// page, then without a bound. Every document outside a window lies beyond all inside it in
/// the page's order, so a window holding a full page gives the page one query would.
pub struct TimeWindows {
    edge: i64,
    descending: bool,
    span: i64,
}

/// The first window's reach, in µs.
const FIRST_SPAN: i64 = 1_000_000;
/// Past this reach (~35 years) the next read has no bound.
const LAST_SPAN: i64 = 1 << 50;

impl TimeWindows {
    /// Windows from `edge` (µs) in the page's direction.
    pub fn new(edge: i64, descending: bool) -> Self {
        TimeWindows {
            edge,
            descending,
            span: FIRST_SPAN,
        }
    }

    /// The next window's bound on `t`; `None` when the next read is the unbounded one.
    pub fn next(&mut self) -> Option<mongodb::bson::Document> {
        if self.span > LAST_SPAN {
            return None;
        }
        let bound = if self.descending {
            mongodb::bson::doc! {"t": {"$gte": self.edge.saturating_sub(self.span)}}
        } else {
            mongodb::bson::doc! {"t": {"$lte": self.edge.saturating_add(self.span)}}
        };
        self.span = self.span.saturating_mul(16);
        Some(bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(w: &Window, id: &str) -> bool {
        let above = w.low.as_ref().is_none_or(|b| {
            if b.inclusive {
                id >= b.id.as_str()
            } else {
                id > b.id.as_str()
            }
        });
        let below = w.high.as_ref().is_none_or(|b| {
            if b.inclusive {
                id <= b.id.as_str()
            } else {
                id < b.id.as_str()
            }
        });
        above && below
    }

    fn all_windows(descending: bool, after: Option<&str>) -> Vec<Window> {
        windows_from(Windows::new(descending, after, 1_000))
    }

    fn windows_from(mut w: Windows) -> Vec<Window> {
        // 100 matches a window, 1,000 needed: three windows run over the whole space.
        let mut out = Vec::new();
        let mut found = 0;
        while let Some(x) = w.next(found) {
            out.push(x);
            found = 100;
        }
        out
    }

    /// Ids of every shape: empty, short, hex and not, at bucket edges, past `ff`/`fff`.
    const IDS: [&str; 26] = [
        "",
        "-",
        "0",
        "00",
        "000",
        "00f",
        "001",
        "00ff",
        "01",
        "0f",
        "1",
        "7f3a",
        "9z",
        "A",
        "Patient-1",
        "a0",
        "example",
        "f",
        "fe",
        "ff",
        "ff0",
        "fff",
        "fff0",
        "fg",
        "g",
        "zzz",
    ];

    fn assert_each_id_in_one(ws: &[Window], descending: bool) {
        for id in IDS {
            let hits: Vec<usize> = (0..ws.len()).filter(|i| contains(&ws[*i], id)).collect();
            assert_eq!(hits.len(), 1, "{id} in windows {hits:?} ({descending})");
        }
    }

    #[test]
    fn windows_cover_every_id_once_in_order() {
        for descending in [false, true] {
            let ws = all_windows(descending, None);
            assert_eq!(ws.len(), 3);
            assert_each_id_in_one(&ws, descending);
            // Ascending windows meet end to end; descending ones walk down.
            for pair in ws.windows(2) {
                if descending {
                    assert_eq!(
                        pair[0].low.as_ref().unwrap().id,
                        pair[1].high.as_ref().unwrap().id
                    );
                } else {
                    assert_eq!(
                        pair[0].high.as_ref().unwrap().id,
                        pair[1].low.as_ref().unwrap().id
                    );
                }
            }
        }
    }

    #[test]
    fn windows_of_any_first_width_cover_every_id_once() {
        for first in [1, 13, 64, 255, 256, 1_000] {
            for descending in [false, true] {
                let ws = windows_from(Windows::keyed(descending, None, 1_000, first));
                assert_each_id_in_one(&ws, descending);
                let after = windows_from(Windows::keyed(descending, Some("7f3a"), 1_000, first));
                assert!(!after.iter().any(|w| contains(w, "7f3a")), "{first}");
            }
        }
    }

    #[test]
    fn the_first_window_says_whether_it_filled_the_page() {
        // Filled by the first window.
        let mut w = Windows::keyed(false, None, 20, 48);
        assert_eq!(w.next(0).unwrap().high.unwrap().id, "30");
        assert_eq!(w.next(25), None);
        assert_eq!(w.first_filled(), Some(true));
        // Short, then filled by the second.
        let mut w = Windows::keyed(false, None, 20, 48);
        w.next(0).unwrap();
        w.next(5).unwrap();
        assert_eq!(w.next(15), None);
        assert_eq!(w.first_filled(), Some(false));
        // Never filled: the key has fewer matches than a page; says nothing.
        let mut w = Windows::keyed(false, None, 20, 48);
        let mut last = 3;
        w.next(0).unwrap();
        while w.next(last).is_some() {
            last = 1;
        }
        assert_eq!(w.first_filled(), None);
        // The first window was all the space after the cursor: says nothing either.
        let mut w = Windows::keyed(false, Some("fe"), 20, 48);
        assert_eq!(w.next(0).unwrap().high, None);
        assert_eq!(w.next(20), None);
        assert_eq!(w.first_filled(), None);
    }

    #[test]
    fn learned_first_windows_stay_in_bounds_and_settle() {
        let f = FirstWindows::default();
        assert_eq!(f.width("a"), 4);
        for _ in 0..100 {
            f.learn("a", Some(false));
            f.learn("b", Some(true));
            f.learn("c", None);
        }
        assert_eq!((f.width("a"), f.width("b"), f.width("c")), (64, 4, 4));
        // Pages that need 20 buckets or fewer in four cases of five, up to 40 in the fifth:
        // the width settles between, where about four pages in five take one window.
        let needs = [10, 15, 20, 20, 40];
        let mut fills = 0;
        for i in 0..2_000 {
            let filled = f.width("d") >= needs[i % needs.len()];
            fills += usize::from(filled && i >= 1_000);
            f.learn("d", Some(filled));
        }
        assert!((20..40).contains(&f.width("d")), "{}", f.width("d"));
        assert!((750..=850).contains(&fills), "{fills}");
    }

    #[test]
    fn halves_cover_every_id_once() {
        let halves = halves();
        assert_each_id_in_one(&halves, false);
        assert!(contains(&halves[0], "7fff") && contains(&halves[1], "8"));
    }

    #[test]
    fn windows_start_after_the_cursor() {
        let ws = all_windows(false, Some("7f3a"));
        assert_eq!(
            ws[0].low,
            Some(Bound {
                id: "7f3a".into(),
                inclusive: false
            })
        );
        assert_eq!(ws[0].high.as_ref().unwrap().id, "83");
        assert!(!ws
            .iter()
            .any(|w| contains(w, "7f39") || contains(w, "7f3a")));
        assert!(contains(&ws[0], "7f3b"));
        let back = all_windows(true, Some("7f3a"));
        assert_eq!(back[0].high.as_ref().unwrap().id, "7f3a");
        assert_eq!(back[0].low.as_ref().unwrap().id, "7c");
        assert!(!back
            .iter()
            .any(|w| contains(w, "7f3a") || contains(w, "7f3b")));
    }

    #[test]
    fn windows_grow_with_the_density_seen() {
        // 8 matches in the first 4 buckets, 20 needed: 9 more buckets (6 and half again).
        let mut w = Windows::new(false, None, 20);
        w.next(0).unwrap();
        let second = w.next(8).unwrap();
        assert_eq!(second.low.unwrap().id, "04");
        assert_eq!(second.high.unwrap().id, "0d");
        // Nothing in the first window: the rest at once.
        let mut w = Windows::new(false, None, 20);
        w.next(0).unwrap();
        assert_eq!(w.next(0).unwrap().high, None);
        assert_eq!(w.next(0), None);
        // A full first window ends the page.
        let mut w = Windows::new(false, None, 20);
        w.next(0).unwrap();
        assert_eq!(w.next(20), None);
    }

    #[test]
    fn whole_collection_windows_cover_every_id_once_and_grow_boundedly() {
        for descending in [false, true] {
            // No match at all: every window grows eightfold over what was read, never the
            // rest of the collection at once.
            let mut w = Windows::whole(descending, None, 20);
            let mut ws = Vec::new();
            while let Some(x) = w.next(0) {
                ws.push(x);
            }
            // Buckets read: 1, then 8, 72, 648 (eight times all before), then the rest.
            let edges: Vec<&str> = ws
                .iter()
                .filter_map(|x| {
                    if descending {
                        x.low.as_ref()
                    } else {
                        x.high.as_ref()
                    }
                })
                .map(|b| b.id.as_str())
                .collect();
            let expected = if descending {
                ["fff", "ff7", "faf", "d27"]
            } else {
                ["001", "009", "051", "2d9"]
            };
            assert_eq!(edges, expected);
            assert_each_id_in_one(&ws, descending);
        }
        // The first window is one bucket of 4,096; a cursor starts in its own bucket.
        let mut w = Windows::whole(false, Some("7f3a"), 20);
        let first = w.next(0).unwrap();
        assert_eq!(first.low.as_ref().unwrap().id, "7f3a");
        assert_eq!(first.high.as_ref().unwrap().id, "7f4");
        let mut w = Windows::whole(true, Some("7f3a"), 20);
        let first = w.next(0).unwrap();
        assert_eq!(first.high.as_ref().unwrap().id, "7f3a");
        assert_eq!(first.low.as_ref().unwrap().id, "7f3");
    }
    #[test]
    fn a_sweep_covers_every_id_once_in_windows_sized_to_the_target() {
        // 100 matches per bucket, 1,000 wanted a window: 1 bucket, then 8 (bounded growth),
        // then 10 at a time.
        let mut s = Sweep::new(1_000);
        let mut ws = Vec::new();
        let mut last = 0;
        while let Some(w) = s.next(last) {
            let lo = w.low.as_ref().map_or(0, |b| WHOLE.bucket_of(&b.id));
            let hi = w.high.as_ref().map_or(4096, |b| WHOLE.bucket_of(&b.id));
            last = 100 * (hi - lo) as usize;
            ws.push(w);
        }
        let widths: Vec<u32> = ws
            .iter()
            .map(|w| {
                let lo = w.low.as_ref().map_or(0, |b| WHOLE.bucket_of(&b.id));
                let hi = w.high.as_ref().map_or(4096, |b| WHOLE.bucket_of(&b.id));
                hi - lo
            })
            .collect();
        assert_eq!(&widths[..3], &[1, 8, 10]);
        assert!(widths[2..widths.len() - 1].iter().all(|w| *w == 10));
        assert_eq!(widths.iter().sum::<u32>(), 4096);
        assert_each_id_in_one(&ws, false);
        for pair in ws.windows(2) {
            assert_eq!(
                pair[0].high.as_ref().unwrap().id,
                pair[1].low.as_ref().unwrap().id
            );
        }
        // No match anywhere: eightfold steps over what was read, never the rest at once.
        let mut s = Sweep::new(1_000);
        let mut widths = Vec::new();
        let mut read = 0;
        while let Some(w) = s.next(0) {
            let lo = w.low.as_ref().map_or(0, |b| WHOLE.bucket_of(&b.id));
            let hi = w.high.as_ref().map_or(4096, |b| WHOLE.bucket_of(&b.id));
            widths.push(hi - lo);
            read += hi - lo;
        }
        assert_eq!(read, 4096);
        assert_eq!(&widths[..4], &[1, 8, 72, 648]);
    }
}
