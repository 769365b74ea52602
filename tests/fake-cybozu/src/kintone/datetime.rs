//! kintone's date and time formats: DATE `YYYY-MM-DD` (short forms padded), TIME `HH:MM`,
//! DATETIME `YYYY-MM-DDTHH:MM:SSZ` in UTC with the seconds dropped.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};

/// Accepts `YYYY`, `YYYY-MM`, `YYYY-M-D` and `YYYY-MM-DD`; returns the padded form.
pub fn parse_date(input: &str) -> Option<NaiveDate> {
    let parts: Vec<&str> = input.trim().split('-').collect();
    let numbers: Option<Vec<u32>> = parts.iter().map(|p| p.parse::<u32>().ok()).collect();
    let numbers = numbers?;
    let (year, month, day) = match numbers.as_slice() {
        [y] => (*y, 1, 1),
        [y, m] => (*y, *m, 1),
        [y, m, d] => (*y, *m, *d),
        _ => return None,
    };
    if parts[0].len() != 4 {
        return None;
    }
    NaiveDate::from_ymd_opt(year as i32, month, day)
}

pub fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Accepts `H:MM`, `HH:MM` and `HH:MM:SS`.
pub fn parse_time(input: &str) -> Option<NaiveTime> {
    let parts: Vec<&str> = input.trim().split(':').collect();
    let numbers: Option<Vec<u32>> = parts.iter().map(|p| p.parse::<u32>().ok()).collect();
    match numbers?.as_slice() {
        [h, m] | [h, m, _] => NaiveTime::from_hms_opt(*h, *m, 0),
        _ => None,
    }
}

pub fn format_time(time: NaiveTime) -> String {
    format!("{:02}:{:02}", time.hour(), time.minute())
}

/// Accepts `…Z`, `…±HH:MM` and `…±HHMM`, with or without seconds; a bare date means midnight UTC.
pub fn parse_datetime(input: &str) -> Option<DateTime<Utc>> {
    let s = input.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M%#z", "%Y-%m-%dT%H:%M:%S%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        let candidate = s.replace('Z', "+00:00");
        if let Ok(dt) = DateTime::parse_from_str(&candidate, format) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, format) {
            return Some(Utc.from_utc_datetime(&naive));
        }
    }
    None
}

/// Seconds are dropped, as kintone stores minutes only.
pub fn format_datetime(dt: DateTime<Utc>) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:00Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute()
    )
}

pub fn local_date(now: DateTime<Utc>, offset: FixedOffset) -> NaiveDate {
    now.with_timezone(&offset).date_naive()
}

pub fn local_time(now: DateTime<Utc>, offset: FixedOffset) -> NaiveTime {
    now.with_timezone(&offset).time()
}

/// The UTC instant at which `date` starts in the user's time zone.
pub fn start_of_local_day(date: NaiveDate, offset: FixedOffset) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    match offset.from_local_datetime(&midnight).single() {
        Some(dt) => dt.with_timezone(&Utc),
        None => Utc.from_utc_datetime(&midnight),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_dates_are_padded() {
        assert_eq!(format_date(parse_date("2024").unwrap()), "2024-01-01");
        assert_eq!(format_date(parse_date("2024-3").unwrap()), "2024-03-01");
        assert_eq!(format_date(parse_date("2024-3-5").unwrap()), "2024-03-05");
        assert!(parse_date("2024-13-01").is_none());
        assert!(parse_date("24-01-01").is_none());
    }

    #[test]
    fn datetimes_drop_seconds_and_go_to_utc() {
        let dt = parse_datetime("2024-04-01T09:30:45+09:00").unwrap();
        assert_eq!(format_datetime(dt), "2024-04-01T00:30:00Z");
        assert_eq!(
            format_datetime(parse_datetime("2024-04-01T09:30Z").unwrap()),
            "2024-04-01T09:30:00Z"
        );
        assert_eq!(
            format_datetime(parse_datetime("2024-04-01T09:30:00+0900").unwrap()),
            "2024-04-01T00:30:00Z"
        );
        assert_eq!(format_time(parse_time("9:05").unwrap()), "09:05");
    }
}
