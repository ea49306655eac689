//! Server time for `meta.lastUpdated`.
//!
//! Every write gets a distinct, increasing instant (microseconds since the epoch) from this
//! process, so history order and `_since` never depend on two writes landing in the same
//! microsecond.

use chrono::{DateTime, SecondsFormat, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

static LAST: AtomicI64 = AtomicI64::new(0);

/// Microseconds since the Unix epoch, strictly greater than any earlier value in this process.
pub fn next_micros() -> i64 {
    let now = Utc::now().timestamp_micros();
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

fn to_datetime(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// FHIR `instant` text, e.g. `2026-11-25T04:17:32.123456Z`.
pub fn to_fhir_instant(micros: i64) -> String {
    to_datetime(micros).to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// HTTP-date (RFC 9110 IMF-fixdate) for `Last-Modified`.
pub fn to_http_date(micros: i64) -> String {
    to_datetime(micros)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// Parses an HTTP-date (`If-Modified-Since`) to microseconds; `None` if it is not one.
pub fn parse_http_date(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc).timestamp_micros())
}

/// Parses a FHIR `instant` or full `dateTime` with timezone (used by `_since`).
pub fn parse_fhir_instant(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc).timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_increase_and_round_trip() {
        let a = next_micros();
        let b = next_micros();
        assert!(b > a);
        assert_eq!(parse_fhir_instant(&to_fhir_instant(a)), Some(a));
        let http = to_http_date(a);
        assert_eq!(parse_http_date(&http), Some(a - a.rem_euclid(1_000_000)));
    }
}
