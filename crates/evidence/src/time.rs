//! Times in the evidence: epoch milliseconds in memory, RFC 3339 on disk
//! (UTC in CSV files, the incident's offset in JSON files).

use chrono::{DateTime, FixedOffset, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;

/// An instant as written in JSON evidence: RFC 3339 with milliseconds and
/// the incident's offset.
pub type Stamp = DateTime<FixedOffset>;

/// `ms` (UTC epoch milliseconds) at the offset `tz` has then.
pub fn stamp(ms: i64, tz: Tz) -> Stamp {
    let utc = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    tz.from_utc_datetime(&utc.naive_utc()).fixed_offset()
}

/// RFC 3339 text of `ms` with milliseconds and `tz`'s offset.
pub fn rfc3339(ms: i64, tz: Tz) -> String {
    stamp(ms, tz).to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// Epoch milliseconds of an RFC 3339 time with an offset (`Z` or `+07:00`).
pub fn parse_ms(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Serde for [`Stamp`] fields: RFC 3339 with milliseconds.
pub mod millis {
    use super::Stamp;
    use chrono::SecondsFormat;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the time with milliseconds and its offset.
    pub fn serialize<S: Serializer>(t: &Stamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, false))
    }

    /// Reads an RFC 3339 time.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Stamp, D::Error> {
        let text = String::deserialize(d)?;
        chrono::DateTime::parse_from_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde for optional [`Stamp`] fields (`null` when unknown).
pub mod millis_opt {
    use super::Stamp;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the time, or `null`.
    pub fn serialize<S: Serializer>(t: &Option<Stamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::millis::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    /// Reads an RFC 3339 time or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Stamp>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| chrono::DateTime::parse_from_rfc3339(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}
