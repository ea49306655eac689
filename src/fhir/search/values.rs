//! Normalisation shared by index extraction and query parsing, so that both sides agree
//! exactly: string folding, the instant range of a partial date, the range a decimal's
//! precision implies.

use chrono::{Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use unicode_normalization::UnicodeNormalization;

/// Lower-cased, accent-folded, with runs of whitespace collapsed to one space and trimmed:
/// the form `name=Eve` compares against (search.html: case- and accent-insensitive).
pub fn normalize_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.nfd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// The inclusive instant range, in microseconds since the epoch, that a FHIR date, dateTime or
/// instant (or a search date value, which has the same syntax) covers: `2020` covers the whole
/// year, `2020-03-04T10:00` the whole minute. A value without a time zone is read as UTC
/// (the spec leaves it to the server). `None` when the text is not a valid date.
pub fn date_range(s: &str) -> Option<(i64, i64)> {
    let s = s.trim();
    let (date_part, time_part) = match s.find('T') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut it = date_part.split('-');
    let year: i32 = parse_fixed(it.next()?, 4)? as i32;
    let month = match it.next() {
        Some(m) => Some(parse_fixed(m, 2)?),
        None => None,
    };
    let day = match it.next() {
        Some(d) => Some(parse_fixed(d, 2)?),
        None => None,
    };
    if it.next().is_some() || (day.is_some() && month.is_none()) {
        return None;
    }
    let start = NaiveDate::from_ymd_opt(year, month.unwrap_or(1), day.unwrap_or(1))?;
    let Some(time) = time_part else {
        if year < 1 {
            return None;
        }
        let end = match (month, day) {
            (None, _) => NaiveDate::from_ymd_opt(year + 1, 1, 1)?,
            (Some(m), None) => {
                if m == 12 {
                    NaiveDate::from_ymd_opt(year + 1, 1, 1)?
                } else {
                    NaiveDate::from_ymd_opt(year, m + 1, 1)?
                }
            }
            (Some(_), Some(_)) => start.succ_opt()?,
        };
        let lo = micros(start.and_time(NaiveTime::MIN));
        let hi = micros(end.and_time(NaiveTime::MIN)) - 1;
        return Some((lo, hi));
    };
    day?;
    // Split off the zone: `Z`, `+hh:mm` or `-hh:mm`.
    let (clock, offset) = if let Some(c) = time.strip_suffix('Z') {
        (c, Some(0))
    } else if let Some(i) = time.rfind(['+', '-']) {
        let z = &time[i + 1..];
        let (h, m) = z.split_once(':')?;
        let secs = (parse_fixed(h, 2)? * 3600 + parse_fixed(m, 2)? * 60) as i32;
        let sign = if time.as_bytes()[i] == b'-' { -1 } else { 1 };
        (&time[..i], Some(sign * secs))
    } else {
        (time, None)
    };
    let mut parts = clock.split(':');
    let h = parse_fixed(parts.next()?, 2)?;
    let m = parse_fixed(parts.next()?, 2)?;
    let (sec, frac, width) = match parts.next() {
        None => (None, 0i64, 0u32),
        Some(sf) => {
            let (sec, frac) = match sf.split_once('.') {
                Some((a, b)) => (a, Some(b)),
                None => (sf, None),
            };
            let sec = parse_fixed(sec, 2)?;
            match frac {
                None => (Some(sec), 0, 0),
                Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
                    let digits = &f[..f.len().min(6)];
                    let width = digits.len() as u32;
                    let v: i64 = digits.parse().ok()?;
                    (Some(sec), v * 10i64.pow(6 - width), width)
                }
                Some(_) => return None,
            }
        }
    };
    if parts.next().is_some() {
        return None;
    }
    let naive = start.and_time(NaiveTime::from_hms_opt(h, m, sec.unwrap_or(0).min(59))?);
    let base = match offset {
        Some(off) => FixedOffset::east_opt(off)?
            .from_local_datetime(&naive)
            .single()?
            .with_timezone(&Utc)
            .naive_utc(),
        None => naive,
    };
    if base.year() < 1 {
        return None;
    }
    let lo = micros(base) + frac;
    let span = match (sec, width) {
        (None, _) => 60_000_000,
        (Some(_), 0) => 1_000_000,
        (Some(_), w) => 10i64.pow(6 - w),
    };
    Some((lo, lo + span - 1))
}

fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

fn parse_fixed(s: &str, width: usize) -> Option<u32> {
    if s.len() != width || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The value of a decimal's text and the range its precision implies: `100` → [99.5, 100.5],
/// `1.50` → [1.495, 1.505], `1e2` → [50, 150] (search.html "number" and "quantity").
pub fn decimal_range(s: &str) -> Option<(f64, f64, f64)> {
    let s = s.trim();
    let v: f64 = s.parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let decimals = match mantissa.find('.') {
        Some(i) => (mantissa.len() - i - 1) as i32,
        None => 0,
    };
    // An absurd exponent cannot be a real measurement; refusing it also keeps the
    // subtraction from overflowing.
    if !(-400..=400).contains(&exp) {
        return None;
    }
    let half = 0.5 * 10f64.powi(exp - decimals);
    Some((v, v - half, v + half))
}

/// A microsecond timestamp as a FHIR instant with microsecond precision, for cursors and logs.
pub fn instant_text(micros: i64) -> String {
    Utc.timestamp_micros(micros)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_fold_case_accents_and_spaces() {
        assert_eq!(normalize_string("  Évé   Müller "), "eve muller");
        assert_eq!(normalize_string("ŁÓDŹ"), "łodz");
    }

    #[test]
    fn partial_dates_cover_their_period() {
        let (lo, hi) = date_range("2020").unwrap();
        assert_eq!(instant_text(lo), "2020-01-01T00:00:00.000000Z");
        assert_eq!(instant_text(hi), "2020-12-31T23:59:59.999999Z");
        let (lo, hi) = date_range("2020-02").unwrap();
        assert_eq!(instant_text(lo), "2020-02-01T00:00:00.000000Z");
        assert_eq!(instant_text(hi), "2020-02-29T23:59:59.999999Z");
        let (lo, hi) = date_range("2020-12-31").unwrap();
        assert_eq!(instant_text(hi - lo + 1 + lo - 1), instant_text(hi));
        assert_eq!(hi - lo + 1, 86_400_000_000);
        let (lo, hi) = date_range("2013-01-14T10:00+01:00").unwrap();
        assert_eq!(instant_text(lo), "2013-01-14T09:00:00.000000Z");
        assert_eq!(hi - lo + 1, 60_000_000);
        let (lo, hi) = date_range("2015-02-07T13:28:17.239-05:00").unwrap();
        assert_eq!(instant_text(lo), "2015-02-07T18:28:17.239000Z");
        assert_eq!(hi - lo + 1, 1000);
        assert!(date_range("2020-13").is_none());
        assert!(date_range("20").is_none());
        assert!(date_range("2020-02-30").is_none());
    }

    #[test]
    fn decimals_carry_their_precision() {
        assert_eq!(decimal_range("100"), Some((100.0, 99.5, 100.5)));
        let (v, lo, hi) = decimal_range("1.50").unwrap();
        assert_eq!(v, 1.5);
        assert!((lo - 1.495).abs() < 1e-12 && (hi - 1.505).abs() < 1e-12);
        assert_eq!(decimal_range("1e2"), Some((100.0, 50.0, 150.0)));
        assert!(decimal_range("abc").is_none());
        assert!(decimal_range("1.5e-2147483648").is_none());
    }
}
