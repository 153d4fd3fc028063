//! Wall-clock formatting without a date crate: HTTP dates, log timestamps, session timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC calendar instant broken into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Full year, e.g. 2026.
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    /// 0..=23
    pub hour: u32,
    /// 0..=59
    pub minute: u32,
    /// 0..=59
    pub second: u32,
    /// Microseconds within the second.
    pub micros: u32,
    /// 0 = Sunday.
    pub weekday: u32,
}

impl Civil {
    /// Breaks `t` into UTC fields (times before 1970 clamp to the epoch).
    pub fn from_system_time(t: SystemTime) -> Civil {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        Civil::from_unix(d.as_secs() as i64, d.subsec_micros())
    }

    /// Now, in UTC.
    pub fn now() -> Civil {
        Civil::from_system_time(SystemTime::now())
    }

    /// From unix seconds and microseconds (Howard Hinnant's days-to-civil algorithm).
    pub fn from_unix(secs: i64, micros: u32) -> Civil {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            micros,
            weekday: (days + 4).rem_euclid(7) as u32,
        }
    }

    /// RFC 9110 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn http_date(&self) -> String {
        const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
            DAYS[self.weekday as usize % 7],
            self.day,
            MONTHS[(self.month as usize + 11) % 12],
            self.year,
            self.hour,
            self.minute,
            self.second
        )
    }

    /// Log timestamp as the Python SDK's logger writes it: `2026-11-24T23:31:03.575Z`.
    pub fn iso_millis_z(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.micros / 1000
        )
    }

    /// Python's `datetime.now(timezone.utc).isoformat()`: `2026-11-24T23:24:02.656330+00:00`
    /// (Python drops the fraction when it is exactly zero).
    pub fn iso_micros_utc(&self) -> String {
        let fits = [self.month, self.day, self.hour, self.minute, self.second]
            .iter()
            .all(|&v| v < 100);
        if (0..=9999).contains(&self.year) && self.micros < 1_000_000 && fits {
            return self.iso_micros_utc_fast();
        }
        let base = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if self.micros == 0 {
            format!("{base}+00:00")
        } else {
            format!("{base}.{:06}+00:00", self.micros)
        }
    }

    /// [`Civil::iso_micros_utc`] digit by digit, for fields that fit their widths (what
    /// `from_unix` gives for years 0 to 9999): it stamps every span twice and every session
    /// record, and `format!` cost several times more.
    fn iso_micros_utc_fast(&self) -> String {
        fn digits(out: &mut [u8], mut v: u32) {
            for d in out.iter_mut().rev() {
                *d = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
        let mut b = *b"0000-00-00T00:00:00.000000+00:00";
        digits(&mut b[0..4], self.year as u32);
        digits(&mut b[5..7], self.month);
        digits(&mut b[8..10], self.day);
        digits(&mut b[11..13], self.hour);
        digits(&mut b[14..16], self.minute);
        digits(&mut b[17..19], self.second);
        let text = if self.micros == 0 {
            b.copy_within(26.., 19);
            &b[..25]
        } else {
            digits(&mut b[20..26], self.micros);
            &b[..]
        };
        // Only ASCII digits and separators were written.
        String::from_utf8_lossy(text).into_owned()
    }
}

/// Unix seconds of an RFC 9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form every
/// HTTP/1.1 server sends in `Date` and `Last-Modified`; `None` for anything else (the obsolete
/// RFC 850 and asctime forms included: a caller must then do without the date).
pub fn parse_http_date(text: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let rest = text.trim().split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: i64 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as i64 + 1;
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(str::parse::<i64>);
    let (h, m, s) = (hms.next()?.ok()?, hms.next()?.ok()?, hms.next()?.ok()?);
    if parts.next()? != "GMT"
        || parts.next().is_some()
        || !(1..=31).contains(&day)
        || h > 23
        || m > 59
        || s > 60
    {
        return None;
    }
    Some(unix_from_civil(year, month, day, h, m, s))
}

/// Unix seconds of a UTC date and time, fields as written (month 1-12), unchecked: Howard
/// Hinnant's days-from-civil, the inverse of [`Civil::from_unix`].
pub fn unix_from_civil(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hour * 3600 + minute * 60 + second
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse_back() {
        for secs in [0, 784_111_777, 951_782_400, 1_795_563_048, 4_107_542_399] {
            let text = Civil::from_unix(secs, 0).http_date();
            assert_eq!(parse_http_date(&text), Some(secs), "{text}");
        }
        for bad in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn known_instants() {
        let c = Civil::from_unix(784_111_777, 0);
        assert_eq!(c.http_date(), "Sun, 06 Nov 1994 08:49:37 GMT");
        let c = Civil::from_unix(1_795_563_048, 575_123);
        assert_eq!(c.iso_millis_z(), "2026-11-24T23:30:48.575Z");
        assert_eq!(c.iso_micros_utc(), "2026-11-24T23:30:48.575123+00:00");
        assert_eq!(
            Civil::from_unix(951_782_400, 0).iso_micros_utc(),
            "2000-02-29T00:00:00+00:00"
        );
        // Python: datetime.fromtimestamp(t, timezone.utc).isoformat()
        let iso = |secs, micros| Civil::from_unix(secs, micros).iso_micros_utc();
        assert_eq!(iso(1_795_562_642, 656_330), "2026-11-24T23:24:02.656330+00:00");
        assert_eq!(iso(0, 0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso(951_782_400, 1), "2000-02-29T00:00:00.000001+00:00");
        assert_eq!(iso(4_107_542_399, 999_999), "2100-02-28T23:59:59.999999+00:00");
        assert_eq!(iso(1_709_208_000, 0), "2024-02-29T12:00:00+00:00");
    }

    #[test]
    fn iso_micros_utc_matches_format_for_every_field_width() {
        let reference = |c: &Civil| {
            let base = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                c.year, c.month, c.day, c.hour, c.minute, c.second
            );
            if c.micros == 0 {
                format!("{base}+00:00")
            } else {
                format!("{base}.{:06}+00:00", c.micros)
            }
        };
        let mut secs: i64 = -62_135_596_800; // 0001-01-01
        while secs < 253_402_300_800 + 86_400 * 800 {
            for micros in [0, 1, 9, 10, 99_999, 100_000, 999_999] {
                let c = Civil::from_unix(secs, micros);
                assert_eq!(c.iso_micros_utc(), reference(&c), "{secs}.{micros}");
            }
            secs += 7_919_993;
        }
        let odd = Civil {
            year: 12_345,
            micros: 1_000_000,
            hour: 100,
            ..Civil::from_unix(0, 0)
        };
        assert_eq!(odd.iso_micros_utc(), reference(&odd));
    }
}
