//! Go-compatible timestamps and durations.
//!
//! Digests cover times as the reference renders them (RFC 3339 with trimmed nanoseconds, the
//! original offset kept, `Z` for UTC, and a zero time written `0001-01-01T00:00:00Z`), so a
//! time is kept together with the offset it was written in.

use jiff::tz::Offset;
use jiff::{civil, SignedDuration, Timestamp};
use std::fmt::Write as _;

/// An instant plus the UTC offset (in seconds) it is rendered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoTime {
    ts: Timestamp,
    offset_seconds: i32,
}

/// Why a timestamp did not parse.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("parsing time {input:?} as \"2006-01-02T15:04:05Z07:00\": {reason}")]
pub struct TimeParseError {
    pub input: String,
    pub reason: String,
}

fn zero_ts() -> Timestamp {
    // 0001-01-01T00:00:00Z, Go's zero time.
    Timestamp::from_second(-62_135_596_800).expect("year 1 is in range")
}

impl Default for GoTime {
    fn default() -> Self {
        GoTime {
            ts: zero_ts(),
            offset_seconds: 0,
        }
    }
}

impl GoTime {
    pub fn zero() -> Self {
        Self::default()
    }

    pub fn from_timestamp(ts: Timestamp) -> Self {
        GoTime {
            ts,
            offset_seconds: 0,
        }
    }

    pub fn now_utc() -> Self {
        Self::from_timestamp(Timestamp::now())
    }

    pub fn is_zero(&self) -> bool {
        self.ts == zero_ts()
    }

    pub fn timestamp(&self) -> Timestamp {
        self.ts
    }

    pub fn utc(&self) -> Self {
        GoTime {
            ts: self.ts,
            offset_seconds: 0,
        }
    }

    pub fn offset_seconds(&self) -> i32 {
        self.offset_seconds
    }

    /// Adds a signed duration, keeping the offset.
    pub fn add(&self, d: SignedDuration) -> Option<Self> {
        self.ts.checked_add(d).ok().map(|ts| GoTime {
            ts,
            offset_seconds: self.offset_seconds,
        })
    }

    /// Truncates to whole seconds (towards the past).
    pub fn truncate_seconds(&self) -> Self {
        let secs = self.ts.as_second();
        GoTime {
            ts: Timestamp::from_second(secs).unwrap_or(self.ts),
            offset_seconds: self.offset_seconds,
        }
    }

    /// Parses RFC 3339 (`2006-01-02T15:04:05.999999999Z07:00`).
    pub fn parse_rfc3339(input: &str) -> Result<Self, TimeParseError> {
        let err = |reason: &str| TimeParseError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let b = input.as_bytes();
        let digits = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = b.get(range)?;
            if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(part).ok()?.parse().ok()
        };
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(err("cannot parse"));
        }
        let year = digits(0..4).ok_or_else(|| err("bad year"))?;
        let month = digits(5..7).ok_or_else(|| err("bad month"))?;
        let day = digits(8..10).ok_or_else(|| err("bad day"))?;
        let hour = digits(11..13).ok_or_else(|| err("bad hour"))?;
        let minute = digits(14..16).ok_or_else(|| err("bad minute"))?;
        let second = digits(17..19).ok_or_else(|| err("bad second"))?;
        let mut i = 19;
        let mut nanos: i64 = 0;
        if b[i] == b'.' || b[i] == b',' {
            let start = i + 1;
            let mut end = start;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
            if end == start || end - start > 9 {
                return Err(err("bad fractional second"));
            }
            let frac = std::str::from_utf8(&b[start..end]).map_err(|_| err("bad fraction"))?;
            nanos = frac.parse::<i64>().map_err(|_| err("bad fraction"))?
                * 10i64.pow((9 - (end - start)) as u32);
            i = end;
        }
        let offset_seconds: i32 = match b.get(i) {
            Some(b'Z') if i + 1 == b.len() => 0,
            Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
                let oh = digits(i + 1..i + 3).ok_or_else(|| err("bad offset"))?;
                let om = digits(i + 4..i + 6).ok_or_else(|| err("bad offset"))?;
                if oh > 23 || om > 59 {
                    return Err(err("time zone offset out of range"));
                }
                let s = (oh * 3600 + om * 60) as i32;
                if *sign == b'-' {
                    -s
                } else {
                    s
                }
            }
            _ => return Err(err("extra text or bad zone")),
        };
        let dt = civil::DateTime::new(
            year as i16,
            month as i8,
            day as i8,
            hour as i8,
            minute as i8,
            second as i8,
            nanos as i32,
        )
        .map_err(|_| err("value out of range"))?;
        let offset = Offset::from_seconds(offset_seconds).map_err(|_| err("bad offset"))?;
        let ts = offset
            .to_timestamp(dt)
            .map_err(|_| err("value out of range"))?;
        Ok(GoTime { ts, offset_seconds })
    }

    /// Go's `time.RFC3339Nano` rendering.
    pub fn to_rfc3339_nano(&self) -> String {
        self.render(true)
    }

    /// Go's `time.RFC3339` rendering (whole seconds).
    pub fn to_rfc3339(&self) -> String {
        self.render(false)
    }

    fn render(&self, with_fraction: bool) -> String {
        let offset = Offset::from_seconds(self.offset_seconds).unwrap_or(Offset::UTC);
        let dt = offset.to_datetime(self.ts);
        let mut s = String::with_capacity(35);
        let _ = write!(
            s,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        );
        let nanos = dt.subsec_nanosecond();
        if with_fraction && nanos != 0 {
            let frac = format!("{nanos:09}");
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
        if self.offset_seconds == 0 {
            s.push('Z');
        } else {
            let sign = if self.offset_seconds < 0 { '-' } else { '+' };
            let abs = self.offset_seconds.unsigned_abs();
            let _ = write!(s, "{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60);
        }
        s
    }
}

impl PartialOrd for GoTime {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.ts.cmp(&other.ts))
    }
}

/// Why a Go duration did not parse.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("time: invalid duration {0:?}")]
pub struct DurationParseError(pub String);

/// Parses Go `time.ParseDuration` syntax into nanoseconds.
pub fn parse_go_duration(input: &str) -> Result<i128, DurationParseError> {
    let err = || DurationParseError(input.to_string());
    let mut s = input;
    let mut neg = false;
    if let Some(rest) = s.strip_prefix('-') {
        neg = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(err());
    }
    let mut total: i128 = 0;
    while !s.is_empty() {
        let int_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let int_part = &s[..int_end];
        s = &s[int_end..];
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let frac_end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            frac_part = &rest[..frac_end];
            s = &rest[frac_end..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(err());
        }
        let unit_end = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let unit = &s[..unit_end];
        s = &s[unit_end..];
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(err()),
        };
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| err())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(err)?;
        let (f, f_scale) = leading_fraction(frac_part);
        if f > 0 {
            // As Go does: the fraction in float64, truncated (at most 3.6e12, never overflows).
            value += (f as f64 * (scale as f64 / f_scale)) as i128;
        }
        total = total.checked_add(value).ok_or_else(err)?;
        if total > i64::MAX as i128 {
            return Err(err());
        }
    }
    Ok(if neg { -total } else { total })
}

/// Go's `leadingFraction`: the value and scale of the leading fraction digits, which stops
/// accumulating precision (ignoring further digits) before the value would overflow.
fn leading_fraction(digits: &str) -> (u64, f64) {
    let (mut x, mut scale) = (0u64, 1f64);
    for b in digits.bytes() {
        if x > (i64::MAX as u64) / 10 {
            break;
        }
        let y = x * 10 + u64::from(b - b'0');
        if y > 1 << 63 {
            break;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale)
}

/// Renders nanoseconds as Go's `Duration.String()` (`24h0m0s`, `1m30s`, `500ms`, `1.5s`).
pub fn format_go_duration(nanos: i128) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let neg = nanos < 0;
    let mut u = nanos.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (unit, scale) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&frac_string(u, scale));
        out.push_str(unit);
    } else {
        let h = u / 3_600_000_000_000;
        u %= 3_600_000_000_000;
        let m = u / 60_000_000_000;
        u %= 60_000_000_000;
        if h > 0 {
            let _ = write!(out, "{h}h");
        }
        if h > 0 || m > 0 {
            let _ = write!(out, "{m}m");
        }
        out.push_str(&frac_string(u, 1_000_000_000));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

fn frac_string(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let width = scale.to_string().len() - 1;
    let f = format!("{frac:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_keeps_offset() {
        for s in [
            "2026-02-05T00:00:00Z",
            "2026-02-05T10:11:12.5+02:00",
            "2026-02-05T10:11:12.123456789-07:30",
            "0001-01-01T00:00:00Z",
        ] {
            assert_eq!(GoTime::parse_rfc3339(s).unwrap().to_rfc3339_nano(), s);
        }
        assert_eq!(
            GoTime::parse_rfc3339("2026-02-05T10:11:12.500+02:00")
                .unwrap()
                .utc()
                .to_rfc3339_nano(),
            "2026-02-05T08:11:12.5Z"
        );
        assert!(GoTime::parse_rfc3339("2026-02-05").is_err());
        assert!(GoTime::parse_rfc3339("2026-02-30T00:00:00Z").is_err());
        assert!(GoTime::zero().is_zero());
    }

    #[test]
    fn long_duration_fractions_do_not_overflow() {
        // Policy `mcp_trust.max_age` input: 30 fraction digits times the hour scale overflowed
        // i128 (a panic in debug builds, a wrapped value in release). Go keeps the digits that
        // fit in 63 bits (here 18 nines, 1e18 as a float64) and scales in float64: exactly 2h.
        assert_eq!(
            parse_go_duration("1.999999999999999999999999999999h").unwrap(),
            7_200_000_000_000
        );
        let long = format!("0.{}1s", "0".repeat(400));
        assert_eq!(parse_go_duration(&long).unwrap(), 0);
        assert_eq!(parse_go_duration("0.000000001999999999999s").unwrap(), 1);
    }

    #[test]
    fn go_durations() {
        let cases = [
            ("24h", "24h0m0s"),
            ("90s", "1m30s"),
            ("30m", "30m0s"),
            ("500ms", "500ms"),
            ("1.5s", "1.5s"),
            ("1h30m", "1h30m0s"),
        ];
        for (input, want) in cases {
            assert_eq!(format_go_duration(parse_go_duration(input).unwrap()), want);
        }
        assert!(parse_go_duration("1d").is_err());
        assert_eq!(parse_go_duration("1.5h").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_go_duration(".5us").unwrap(), 500);
        assert!(parse_go_duration("").is_err());
        assert_eq!(parse_go_duration("0").unwrap(), 0);
    }
}
