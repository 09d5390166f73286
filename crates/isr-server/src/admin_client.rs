//! The client side of the admin API: `isr purge`, `isr stats` and `isr entries` talk to a
//! running isr over `/_isr/...` with the bearer token.
//!
//! Answers are read leniently (a missing field reads as zero or empty), so a newer server
//! with more fields, or an older one with fewer, still prints. `--json` prints the answer
//! as the server sent it.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cli::{AdminArgs, EntriesArgs, PurgeArgs, StatsArgs};

/// The longest an admin call may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The most pages `isr entries` follows before deciding the server is looping.
const MAX_PAGES: usize = 100_000;

/// An HTTP/1 client of http URLs, and of https ones when built for them.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client; with `https`, it also reaches https URLs, checking their certificates.
pub(crate) fn http_client(https: bool) -> anyhow::Result<HttpClient> {
    Ok(Client::builder(TokioExecutor::new()).build(isr::connector(https)?))
}

/// One running isr's admin API.
struct Admin {
    base: String,
    authorization: HeaderValue,
    client: HttpClient,
}

impl Admin {
    fn new(args: &AdminArgs) -> anyhow::Result<Admin> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", args.admin_token.0))
            .ok()
            .filter(|_| !args.admin_token.0.is_empty())
            .context(
                "the admin token cannot be sent: it is empty or has characters a header cannot carry",
            )?;
        authorization.set_sensitive(true);
        Ok(Admin {
            base: args.server.url.clone(),
            authorization,
            client: http_client(false)?,
        })
    }

    /// Send a request; a 2xx answer's body, or an error with the server's message.
    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Bytes> {
        let url = format!("{}{path_and_query}", self.base);
        let mut request = Request::builder()
            .method(method.clone())
            .uri(&url)
            .header(AUTHORIZATION, self.authorization.clone());
        let body = match body {
            Some(json) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(json.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request
            .body(body)
            .with_context(|| format!("cannot build a request for {url}"))?;
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, anyhow::Error>((status, body))
        };
        let (status, body) = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {}s", TIMEOUT.as_secs()))
            .and_then(|answer| answer)
            .with_context(|| {
                format!("{method} {url} failed (is isr running there, started with --admin-token?)")
            })?;
        if !status.is_success() {
            bail!("{}", error_message(&method, &url, status, &body));
        }
        Ok(body)
    }

    async fn call_json(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(Bytes, Value)> {
        let raw = self.call(method.clone(), path_and_query, body).await?;
        let value = serde_json::from_slice(&raw).with_context(|| {
            format!(
                "{method} {}{path_and_query}: the answer is not JSON: {}",
                self.base,
                excerpt(&raw)
            )
        })?;
        Ok((raw, value))
    }
}

/// What to say about a non-2xx answer: the server's `error` message when it sent one.
fn error_message(method: &Method, url: &str, status: StatusCode, body: &[u8]) -> String {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned));
    let hint = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            " (check --admin-token / ISR_ADMIN_TOKEN)"
        }
        StatusCode::NOT_FOUND if message.is_none() => {
            " (is the admin API on? isr serve needs --admin-token)"
        }
        _ => "",
    };
    match message {
        Some(message) => format!("{method} {url}: {status}: {message}{hint}"),
        None => format!("{method} {url}: {status}: {}{hint}", excerpt(body)),
    }
}

/// The start of a body, for messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty answer)".to_owned();
    }
    let mut short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// Print the raw answer, ending with one newline.
fn print_raw(raw: &[u8]) {
    let text = String::from_utf8_lossy(raw);
    println!("{}", text.trim_end());
}

// ---------------------------------------------------------------------------------------
// purge
// ---------------------------------------------------------------------------------------

/// The body of `POST /_isr/revalidate` for these flags. Lists that are empty are left out
/// (the server refuses an empty list rather than guess what it meant).
fn revalidate_body(args: &PurgeArgs) -> Value {
    let mut body = serde_json::Map::new();
    for (name, list) in [
        ("paths", &args.paths),
        ("tags", &args.tags),
        ("prefixes", &args.prefixes),
    ] {
        if !list.is_empty() {
            body.insert(name.to_owned(), json!(list));
        }
    }
    body.insert(
        "mode".to_owned(),
        json!(if args.hard { "hard" } else { "soft" }),
    );
    body.insert("regenerate".to_owned(), json!(args.regenerate));
    body.insert("if_cached".to_owned(), json!(args.if_cached));
    Value::Object(body)
}

pub(crate) async fn purge(args: &PurgeArgs) -> anyhow::Result<()> {
    let admin = Admin::new(&args.admin)?;
    if args.all {
        let (raw, value) = admin.call_json(Method::DELETE, "/_isr/cache", None).await?;
        if args.admin.json {
            print_raw(&raw);
        } else if value.get("cleared").and_then(Value::as_bool) == Some(false) {
            println!("the cache was not cleared");
        } else {
            println!("cleared the whole cache");
        }
        return Ok(());
    }
    let body = revalidate_body(args);
    let (raw, value) = admin
        .call_json(Method::POST, "/_isr/revalidate", Some(&body))
        .await?;
    if args.admin.json {
        print_raw(&raw);
    } else {
        let answer: RevalidateAnswer =
            serde_json::from_value(value).context("unexpected answer to the purge")?;
        print!("{}", format_revalidate(&answer));
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RevalidateAnswer {
    mode: String,
    purged: PurgedCounts,
    regenerating: Vec<String>,
    skipped: Vec<Skipped>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PurgedCounts {
    paths: u64,
    tags: u64,
    prefixes: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Skipped {
    path: String,
    reason: String,
}

fn format_revalidate(answer: &RevalidateAnswer) -> String {
    let mode = if answer.mode.is_empty() {
        "soft"
    } else {
        &answer.mode
    };
    let what = match mode {
        "soft" => "marked stale",
        "hard" => "deleted",
        _ => "done",
    };
    let mut out = format!(
        "purged ({mode}, {what}): {}, {}, {}\n",
        plural(answer.purged.paths, "path"),
        plural(answer.purged.tags, "tag"),
        plural(answer.purged.prefixes, "prefix"),
    );
    for path in &answer.regenerating {
        let _ = writeln!(out, "regenerating {path}");
    }
    for skipped in &answer.skipped {
        let _ = writeln!(out, "skipped {}: {}", skipped.path, skipped.reason);
    }
    out
}

fn plural(n: u64, noun: &str) -> String {
    match (n, noun) {
        (1, _) => format!("1 {noun}"),
        (_, "prefix") => format!("{n} prefixes"),
        _ => format!("{n} {noun}s"),
    }
}

// ---------------------------------------------------------------------------------------
// stats
// ---------------------------------------------------------------------------------------

pub(crate) async fn stats(args: &StatsArgs) -> anyhow::Result<()> {
    let admin = Admin::new(&args.admin)?;
    let (raw, value) = admin.call_json(Method::GET, "/_isr/stats", None).await?;
    if args.admin.json {
        print_raw(&raw);
    } else {
        let stats: Stats = serde_json::from_value(value).context("unexpected stats answer")?;
        print!("{}", format_stats(&stats));
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Stats {
    entries: TierCounts,
    bytes: TierBytes,
    evicted: TierCounts,
    requests: RequestCounts,
    renders: u64,
    coalesced: u64,
    regenerations: Regenerations,
    purge_records: u64,
    rendered_elsewhere: u64,
    /// Present when the node shares its store with others (Redis).
    cluster: Option<Cluster>,
}

/// `disk` is absent (null) when the durable tier is not the on-disk store.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TierCounts {
    memory: u64,
    disk: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TierBytes {
    memory: u64,
    memory_capacity: u64,
    disk: Option<u64>,
    disk_capacity: Option<u64>,
    disk_file: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Cluster {
    backend: String,
    address: String,
    up: bool,
    errors: u64,
    transitions: u64,
    events_received: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RequestCounts {
    hit: u64,
    stale: u64,
    miss: u64,
    bypass: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Regenerations {
    ok: u64,
    failed: u64,
}

fn format_stats(stats: &Stats) -> String {
    let r = &stats.requests;
    let cached = r.hit + r.stale + r.miss;
    let hit_ratio = if cached == 0 {
        String::new()
    } else {
        // Served from the cache (fresh or stale) out of every cacheable request.
        format!(
            " (hit ratio {:.1}%)",
            (r.hit + r.stale) as f64 * 100.0 / cached as f64
        )
    };
    let memory_capacity = if stats.bytes.memory_capacity == 0 {
        String::new()
    } else {
        format!(" of {}", human_bytes(stats.bytes.memory_capacity))
    };
    let on_disk = |n: Option<String>| n.map(|n| format!(", {n} on disk")).unwrap_or_default();
    let b = &stats.bytes;
    let disk_bytes = b.disk.map(|stored| {
        let capacity = b.disk_capacity.map(|c| format!(" of {}", human_bytes(c)));
        let details: Vec<String> = [
            b.disk_file.map(|f| format!("file {}", human_bytes(f))),
            stats.evicted.disk.map(|n| format!("{n} evicted")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let details = if details.is_empty() {
            String::new()
        } else {
            format!(" ({})", details.join(", "))
        };
        format!(
            ", {}{} on disk{details}",
            human_bytes(stored),
            capacity.unwrap_or_default()
        )
    });
    let (cluster, elsewhere) = match &stats.cluster {
        None => (String::new(), String::new()),
        Some(c) => (
            format!(
                "cluster:        {} at {}: {} ({} errors, {} state changes, {} announcements heard)\n",
                c.backend,
                c.address,
                if c.up { "up" } else { "DOWN, answering alone" },
                c.errors,
                c.transitions,
                c.events_received,
            ),
            format!(", {} taken from other nodes", stats.rendered_elsewhere),
        ),
    };
    format!(
        "entries:        {} in memory{}\n\
         bytes:          {}{memory_capacity} in memory{}\n\
         requests:       {} hit, {} stale, {} miss, {} bypass{hit_ratio}\n\
         renders:        {} ({} coalesced requests waited on another's render{elsewhere})\n\
         regenerations:  {} ok, {} failed\n\
         purge records:  {}\n{cluster}",
        stats.entries.memory,
        on_disk(stats.entries.disk.map(|n| n.to_string())),
        human_bytes(stats.bytes.memory),
        disk_bytes.unwrap_or_default(),
        r.hit,
        r.stale,
        r.miss,
        r.bypass,
        stats.renders,
        stats.coalesced,
        stats.regenerations.ok,
        stats.regenerations.failed,
        stats.purge_records,
    )
}

/// `1234567` → `1.2 MiB`.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

// ---------------------------------------------------------------------------------------
// entries
// ---------------------------------------------------------------------------------------

pub(crate) async fn entries(args: &EntriesArgs) -> anyhow::Result<()> {
    let admin = Admin::new(&args.admin)?;
    let mut raw_entries: Vec<Value> = Vec::new();
    let mut cursor = args.cursor.clone();
    let mut next_cursor = None;
    for page in 0.. {
        if page == MAX_PAGES {
            bail!("gave up after {MAX_PAGES} pages of entries: the server keeps sending a cursor");
        }
        let path = entries_query(args.prefix.as_deref(), cursor.as_deref(), args.limit);
        let (raw, value) = admin.call_json(Method::GET, &path, None).await?;
        if args.limit.is_some() && args.admin.json {
            print_raw(&raw);
            return Ok(());
        }
        let page_entries = match value.get("entries") {
            Some(Value::Array(entries)) => entries.clone(),
            _ => bail!(
                "unexpected entries answer (no `entries` array): {}",
                excerpt(&raw)
            ),
        };
        raw_entries.extend(page_entries);
        next_cursor = value
            .get("next_cursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if args.limit.is_some() || next_cursor.is_none() {
            break;
        }
        if next_cursor == cursor {
            bail!("the server sent the same cursor twice; stopping");
        }
        cursor = next_cursor.clone();
    }
    if args.admin.json {
        // Every page, as one answer.
        println!("{}", json!({ "entries": raw_entries, "next_cursor": null }));
        return Ok(());
    }
    let entries: Vec<Entry> = raw_entries
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .context("unexpected entry in the answer")?;
    print!("{}", format_entries(&entries));
    if let Some(next) = next_cursor {
        println!("more: isr entries --limit N --cursor {next}");
    }
    Ok(())
}

/// `/_isr/entries?prefix=..&cursor=..&limit=..`, percent-encoded.
fn entries_query(prefix: Option<&str>, cursor: Option<&str>, limit: Option<u32>) -> String {
    let limit = limit.map(|n| n.to_string());
    let params = [
        ("prefix", prefix),
        ("cursor", cursor),
        ("limit", limit.as_deref()),
    ];
    let query: Vec<String> = params
        .iter()
        .filter_map(|(name, value)| value.map(|v| format!("{name}={}", encode_query_value(v))))
        .collect();
    if query.is_empty() {
        "/_isr/entries".to_owned()
    } else {
        format!("/_isr/entries?{}", query.join("&"))
    }
}

/// Percent-encode everything but the unreserved characters and `/`.
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Entry {
    path: String,
    status: u16,
    age: u64,
    revalidate: Option<u64>,
    expire: Option<u64>,
    state: String,
    tags: Vec<String>,
    size: u64,
}

fn format_entries(entries: &[Entry]) -> String {
    let header = [
        "STATE",
        "STATUS",
        "AGE",
        "REVALIDATE",
        "EXPIRE",
        "SIZE",
        "PATH",
        "TAGS",
    ];
    let rows: Vec<[String; 8]> = entries
        .iter()
        .map(|e| {
            [
                e.state.clone(),
                e.status.to_string(),
                human_secs(Some(e.age)),
                human_secs(e.revalidate),
                human_secs(e.expire),
                human_bytes(e.size),
                e.path.clone(),
                e.tags.join(","),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = header.map(str::to_owned);
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let _ = writeln!(out, "{}", plural_entries(entries.len()));
    out
}

fn plural_entries(n: usize) -> String {
    if n == 1 {
        "1 entry".to_owned()
    } else {
        format!("{n} entries")
    }
}

/// `90` → `1m30s`; `None` → `never`.
fn human_secs(secs: Option<u64>) -> String {
    let Some(secs) = secs else {
        return "never".to_owned();
    };
    let units = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (name, size) in units {
        if rest >= size {
            parts.push(format!("{}{name}", rest / size));
            rest %= size;
        }
    }
    match parts.len() {
        0 => "0s".to_owned(),
        // The two largest units are precise enough to read.
        _ => parts.into_iter().take(2).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revalidate_summary() {
        let answer: RevalidateAnswer = serde_json::from_str(
            r#"{"mode":"soft","purged":{"paths":1,"tags":2,"prefixes":1},"regenerating":["/blog/a"],"skipped":[{"path":"/x","reason":"not cached"}]}"#,
        )
        .unwrap();
        assert_eq!(
            format_revalidate(&answer),
            "purged (soft, marked stale): 1 path, 2 tags, 1 prefix\n\
             regenerating /blog/a\n\
             skipped /x: not cached\n"
        );
    }

    #[test]
    fn stats_summary_of_a_cluster_node() {
        let stats: Stats = serde_json::from_str(
            r#"{"entries":{"memory":3,"disk":null},"bytes":{"memory":2048,"memory_capacity":4096,"disk":null},"renders":4,"rendered_elsewhere":2,"cluster":{"backend":"redis","address":"redis://***@h:6379","up":false,"errors":3,"transitions":1,"events_received":9}}"#,
        )
        .unwrap();
        let text = format_stats(&stats);
        assert!(text.contains("entries:        3 in memory\n"), "{text}");
        assert!(text.contains("2 taken from other nodes"), "{text}");
        assert!(
            text.contains(
                "cluster:        redis at redis://***@h:6379: DOWN, answering alone (3 errors"
            ),
            "{text}"
        );
    }

    #[test]
    fn stats_summary() {
        let stats: Stats = serde_json::from_str(
            r#"{"entries":{"memory":3,"disk":5},"bytes":{"memory":2048,"memory_capacity":268435456,"disk":1572864,"disk_capacity":10737418240,"disk_file":3145728},"evicted":{"disk":12},"requests":{"hit":6,"stale":2,"miss":2,"bypass":1},"renders":4,"coalesced":1,"regenerations":{"ok":2,"failed":0},"purge_records":7,"new_field":1}"#,
        )
        .unwrap();
        let text = format_stats(&stats);
        assert!(text.contains("3 in memory, 5 on disk"), "{text}");
        assert!(
            text.contains(
                "2.0 KiB of 256.0 MiB in memory, 1.5 MiB of 10.0 GiB on disk (file 3.0 MiB, 12 evicted)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("6 hit, 2 stale, 2 miss, 1 bypass (hit ratio 80.0%)"),
            "{text}"
        );
        assert!(text.contains("purge records:  7"), "{text}");
        assert!(!text.contains("cluster"), "{text}");
        // Fields the server does not send read as zero.
        let text = format_stats(&serde_json::from_str("{}").unwrap());
        assert!(text.contains("0 hit"), "{text}");
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(human_secs(None), "never");
        assert_eq!(human_secs(Some(0)), "0s");
        assert_eq!(human_secs(Some(59)), "59s");
        assert_eq!(human_secs(Some(90)), "1m30s");
        assert_eq!(human_secs(Some(3_600)), "1h");
        assert_eq!(human_secs(Some(90_061)), "1d1h");
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }

    #[test]
    fn entries_queries_are_encoded() {
        assert_eq!(entries_query(None, None, None), "/_isr/entries");
        assert_eq!(
            entries_query(Some("/blog a"), Some("c+1=&"), Some(5)),
            "/_isr/entries?prefix=/blog%20a&cursor=c%2B1%3D%26&limit=5"
        );
    }

    #[test]
    fn error_messages_prefer_the_servers() {
        let text = error_message(
            &Method::GET,
            "http://x/_isr/stats",
            StatusCode::UNAUTHORIZED,
            br#"{"error":"bad token"}"#,
        );
        assert!(text.contains("401 Unauthorized: bad token"), "{text}");
        assert!(text.contains("--admin-token"), "{text}");
        let text = error_message(&Method::GET, "http://x", StatusCode::NOT_FOUND, b"nope");
        assert!(text.contains("404 Not Found: nope"), "{text}");
    }
}
