//! Timestamps as Python's `datetime.now(timezone.utc).isoformat()` writes them.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as `2026-11-24T23:24:02.656330+00:00`.
pub(crate) fn now_iso() -> String {
    iso_utc(SystemTime::now())
}

/// `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`; like Python, the fraction is left out when the
/// microseconds are zero. Times before 1970 (a broken clock) are written as the epoch.
pub(crate) fn iso_utc(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let micros = since.subsec_micros();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let mut s = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if micros != 0 {
        s.push_str(&format!(".{micros:06}"));
    }
    s.push_str("+00:00");
    s
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day): Howard Hinnant's
/// `civil_from_days`, restricted to dates after the epoch.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, micros: u32) -> String {
        iso_utc(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(u64::from(micros)))
    }

    #[test]
    fn matches_python_isoformat() {
        // datetime.fromtimestamp(1795562642.65633, timezone.utc).isoformat()
        assert_eq!(at(1_795_562_642, 656_330), "2026-11-24T23:24:02.656330+00:00");
        assert_eq!(at(0, 0), "1970-01-01T00:00:00+00:00");
        assert_eq!(at(951_782_400, 1), "2000-02-29T00:00:00.000001+00:00");
        assert_eq!(at(4_107_542_399, 999_999), "2100-02-28T23:59:59.999999+00:00");
        assert_eq!(at(1_709_208_000, 0), "2024-02-29T12:00:00+00:00");
    }
}
