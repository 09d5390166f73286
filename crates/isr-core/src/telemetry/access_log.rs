//! The access log's lines: one per request, as JSON or in the combined log format (the
//! one nginx, Apache and Varnish write), with isr's own fields after it.
//!
//! Invariants:
//! - One request is one line: nothing a client sends (its path, Referer, User-Agent) can
//!   break a line or a field; in the combined format quotes, backslashes and control
//!   characters are escaped as nginx escapes them (`\x22`), and JSON strings are escaped
//!   by the JSON encoder.
//! - No secret reaches the log: the record holds no request header but Referer and
//!   User-Agent (tokens travel in headers and cookies, never in the query isr keys on).

use serde::Serialize;

use crate::UnixMillis;

/// How access lines are written, or not (`access_log` in `isr.toml`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccessLogFormat {
    /// No access log (the default).
    #[default]
    Off,
    /// One JSON object per line.
    Json,
    /// The combined log format, followed by isr's fields as `name=value`.
    Combined,
}

/// What one access line says about one request.
#[derive(Clone, Debug, Serialize)]
pub struct AccessRecord<'a> {
    /// When the request arrived.
    #[serde(serialize_with = "rfc3339")]
    pub time: UnixMillis,
    /// The client's address.
    pub client: &'a str,
    /// The request method.
    pub method: &'a str,
    /// The request target (path and query) as received.
    pub target: &'a str,
    /// `HTTP/1.1`, `HTTP/2.0`...
    pub protocol: &'a str,
    /// The answer's status code.
    pub status: u16,
    /// The answer's body size, when known from its `Content-Length`.
    pub bytes: Option<u64>,
    /// `HIT`, `STALE`, `MISS`, `BYPASS` or `ERROR`.
    pub cache: &'a str,
    /// The route pattern the request matched, or `(none)`.
    pub route: &'a str,
    /// A short hash of the cache key, when the request has one (the same key hashes
    /// alike on every node, so lines of one page can be found together).
    pub key_hash: Option<&'a str>,
    /// The origin's status, when this answer came from the origin.
    pub origin_status: Option<u16>,
    /// Time from arrival to the answer's headers, in microseconds.
    pub duration_us: u64,
    /// The `Referer` header.
    pub referer: Option<&'a str>,
    /// The `User-Agent` header.
    pub user_agent: Option<&'a str>,
}

impl AccessRecord<'_> {
    /// The line for `format` (without its newline); `None` when the log is off.
    pub fn line(&self, format: AccessLogFormat) -> Option<String> {
        match format {
            AccessLogFormat::Off => None,
            AccessLogFormat::Json => serde_json::to_string(self).ok(),
            AccessLogFormat::Combined => Some(self.combined()),
        }
    }

    fn combined(&self) -> String {
        let bytes = self
            .bytes
            .map_or_else(|| "-".to_owned(), |bytes| bytes.to_string());
        let origin = self
            .origin_status
            .map_or_else(|| "-".to_owned(), |status| status.to_string());
        format!(
            "{client} - - [{time}] \"{method} {target} {protocol}\" {status} {bytes} \"{referer}\" \
             \"{agent}\" cache={cache} route=\"{route}\" key={key} origin_status={origin} \
             duration_us={duration}",
            client = escape(self.client),
            time = clf_time(self.time),
            method = escape(self.method),
            target = escape(self.target),
            protocol = escape(self.protocol),
            status = self.status,
            referer = escape(self.referer.unwrap_or("-")),
            agent = escape(self.user_agent.unwrap_or("-")),
            cache = escape(self.cache),
            route = escape(self.route),
            key = escape(self.key_hash.unwrap_or("-")),
            duration = self.duration_us,
        )
    }
}

/// `s` with `"`, `\`, spaces-that-are-not-spaces and every control or non-ASCII byte
/// as `\xHH`, as nginx writes them.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte == b'"' || byte == b'\\' || !(0x20..0x7f).contains(&byte) {
            out.push_str(&format!("\\x{byte:02X}"));
        } else {
            out.push(char::from(byte));
        }
    }
    out
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The civil date (UTC) of `time`: year, month (1–12), day, hour, minute, second,
/// millisecond. Howard Hinnant's `civil_from_days`.
fn civil(time: UnixMillis) -> (u64, u64, u64, u64, u64, u64, u64) {
    let secs = time.0 / 1000;
    let days = secs / 86_400;
    let of_day = secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (
        year,
        month,
        day,
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        time.0 % 1000,
    )
}

/// `10/Oct/2000:13:55:36 +0000`.
fn clf_time(time: UnixMillis) -> String {
    let (year, month, day, hour, minute, second, _) = civil(time);
    let index = usize::try_from(month.saturating_sub(1)).unwrap_or(0);
    let month = MONTHS.get(index).copied().unwrap_or("Jan");
    format!("{day:02}/{month}/{year}:{hour:02}:{minute:02}:{second:02} +0000")
}

/// `2000-10-10T13:55:36.000Z`.
fn rfc3339<S: serde::Serializer>(time: &UnixMillis, serializer: S) -> Result<S::Ok, S::Error> {
    let (year, month, day, hour, minute, second, millis) = civil(*time);
    serializer.collect_str(&format_args!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AccessRecord<'static> {
        AccessRecord {
            // 2000-10-10T13:55:36.250Z
            time: UnixMillis(971_186_136_250),
            client: "127.0.0.1",
            method: "GET",
            target: "/blog/a?x=1",
            protocol: "HTTP/1.1",
            status: 200,
            bytes: Some(2326),
            cache: "MISS",
            route: "/blog/[slug]",
            key_hash: Some("0123456789abcdef"),
            origin_status: Some(200),
            duration_us: 1234,
            referer: None,
            user_agent: Some("curl/8.0"),
        }
    }

    #[test]
    fn combined_is_the_common_format_then_isrs_fields() {
        let line = record().line(AccessLogFormat::Combined).expect("on");
        assert_eq!(
            line,
            "127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET /blog/a?x=1 HTTP/1.1\" 200 2326 \
             \"-\" \"curl/8.0\" cache=MISS route=\"/blog/[slug]\" key=0123456789abcdef \
             origin_status=200 duration_us=1234"
        );
    }

    #[test]
    fn json_has_every_field() {
        let line = record().line(AccessLogFormat::Json).expect("on");
        let value: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(value["time"], "2000-10-10T13:55:36.250Z");
        assert_eq!(value["cache"], "MISS");
        assert_eq!(value["route"], "/blog/[slug]");
        assert_eq!(value["key_hash"], "0123456789abcdef");
        assert_eq!(value["origin_status"], 200);
        assert_eq!(value["status"], 200);
        assert_eq!(value["duration_us"], 1234);
        assert_eq!(value["user_agent"], "curl/8.0");
        assert!(value["referer"].is_null());
        assert!(!line.contains('\n'));
    }

    #[test]
    fn a_client_cannot_break_a_line_or_a_field() {
        let mut hostile = record();
        hostile.user_agent = Some("a\" cache=HIT\n127.0.0.1 - - [fake]");
        hostile.target = "/\u{e9}\\";
        let line = hostile.line(AccessLogFormat::Combined).expect("on");
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.contains("\"a\\x22 cache=HIT\\x0A127.0.0.1 - - [fake]\""),
            "{line}"
        );
        assert!(line.contains("GET /\\xC3\\xA9\\x5C HTTP/1.1"), "{line}");
        assert_eq!(
            line.matches("cache=").count(),
            2,
            "the forged one is inside quotes"
        );
        let json = hostile.line(AccessLogFormat::Json).expect("on");
        assert!(!json.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(value["user_agent"], "a\" cache=HIT\n127.0.0.1 - - [fake]");
    }

    #[test]
    fn off_writes_nothing() {
        assert_eq!(record().line(AccessLogFormat::Off), None);
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(clf_time(UnixMillis(0)), "01/Jan/1970:00:00:00 +0000");
        // 2024-02-29T23:59:59Z, a leap day.
        assert_eq!(
            clf_time(UnixMillis(1_709_251_199_000)),
            "29/Feb/2024:23:59:59 +0000"
        );
    }
}
