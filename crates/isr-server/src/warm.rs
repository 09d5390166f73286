//! `isr warm`: request pages through a running isr so they are cached before visitors ask.
//!
//! Each page is an ordinary GET through the proxy (not the admin API), so a fresh entry is
//! a HIT and is left alone, and a missing one is rendered. Pages come from the command line
//! and from sitemaps (`<urlset>` and `<sitemapindex>`, nested at most [`MAX_DEPTH`] levels);
//! every `<loc>` is reduced to its path and query, since the pages are requested from isr.
//!
//! With `--build ID` (and the admin token) every request names that build
//! ([`isr_core::build::warm_build`]), so the pages of a build not served yet are filled
//! before `isr build switch ID`.
//!
//! Invariants: each page is requested once, at most `--concurrency` at a time; a page that
//! fails is reported and makes the command fail, but never stops the others.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, USER_AGENT};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::Full;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use isr_core::build::{WARM_BUILD_HEADER, WARM_TOKEN_HEADER};
use serde_json::json;

use crate::cli::client::WarmArgs;
use crate::cli::parse::url_to_path;
use crate::http_client::{ExchangeError, HttpClient, exchange, http_client, with_causes};

/// Sitemaps nested deeper than this (an index of indexes of indexes...) are not followed.
const MAX_DEPTH: usize = 3;

/// The longest one page (or one sitemap) may take.
const TIMEOUT: Duration = Duration::from_secs(120);

const AGENT: &str = concat!("isr-warm/", env!("CARGO_PKG_VERSION"));

/// Why `isr warm` failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WarmError {
    #[error(transparent)]
    Tls(#[from] isr::TlsError),
    #[error("cannot read sitemap {sitemap}")]
    Unreadable {
        sitemap: Source,
        #[source]
        source: ReadError,
    },
    #[error("sitemap {sitemap}: {problem}")]
    NotASitemap {
        sitemap: Source,
        problem: SitemapError,
    },
    #[error("nested sitemap {loc:?} in {parent} is not a valid URL")]
    NestedNotAUrl { loc: String, parent: Source },
    #[error(
        "nested sitemap {loc:?} in {parent}: only http(s) URLs and relative paths are supported"
    )]
    NestedScheme { loc: String, parent: Source },
    #[error("parent sitemap URL")]
    ParentUrl(#[source] http::uri::InvalidUri),
    #[error("no pages to warm: the sitemaps list none")]
    NoPages,
    #[error("{failed} of {warmed} pages failed")]
    PagesFailed { failed: usize, warmed: usize },
    #[error("--build needs the admin token (--admin-token or ISR_ADMIN_TOKEN)")]
    BuildNeedsToken,
    #[error("--build: the build id or the admin token cannot be sent in a header")]
    BuildUnsendable,
}

/// Why one sitemap could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error(transparent)]
    File(#[from] std::io::Error),
    #[error("invalid URL {url}")]
    Url {
        url: String,
        #[source]
        source: http::Error,
    },
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    #[error("answered {0}")]
    Status(StatusCode),
    #[error("gzip-compressed sitemaps are not supported: decompress it first")]
    Gzip,
    #[error("not UTF-8 text")]
    NotUtf8,
}

/// Why a document is not a sitemap.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SitemapError {
    #[error("not a sitemap: the root element is <{0}>, not <urlset> or <sitemapindex>")]
    Root(String),
    #[error("not a sitemap: no XML element")]
    NoElement,
}

/// Where a sitemap is read from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    File(PathBuf),
    /// An absolute http URL, fetched directly.
    Url(String),
    /// A path on the site, fetched through isr (`--url`).
    Proxy(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Url(url) => f.write_str(url),
            Source::Proxy(path) => write!(f, "{path} (through isr)"),
        }
    }
}

/// A `--sitemap` argument.
fn top_source(arg: &str) -> Source {
    if arg.starts_with("http://") || arg.starts_with("https://") {
        Source::Url(arg.split('#').next().unwrap_or(arg).to_owned())
    } else {
        Source::File(PathBuf::from(arg))
    }
}

/// `scheme://authority` of an absolute URL.
fn url_origin(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    Some(format!("{}://{}", uri.scheme_str()?, uri.authority()?))
}

/// `dir/` of `/dir/file.xml` (a URL path).
fn path_dir(path: &str) -> &str {
    let path = path.split('?').next().unwrap_or(path);
    path.rfind('/').map_or("/", |i| &path[..=i])
}

/// Where a nested sitemap named by `loc` in `parent` is read from.
fn resolve(loc: &str, parent: &Source) -> Result<Source, WarmError> {
    if loc.starts_with("http://") || loc.starts_with("https://") {
        if let Source::Url(parent_url) = parent
            && url_origin(loc).is_some()
            && url_origin(loc) == url_origin(parent_url)
        {
            return Ok(Source::Url(loc.split('#').next().unwrap_or(loc).to_owned()));
        }
        // A sitemap on the site isr serves (its public URL is often https): ask isr.
        return url_to_path(loc)
            .map(Source::Proxy)
            .ok_or_else(|| WarmError::NestedNotAUrl {
                loc: loc.to_owned(),
                parent: parent.clone(),
            });
    }
    if loc.contains("://") {
        return Err(WarmError::NestedScheme {
            loc: loc.to_owned(),
            parent: parent.clone(),
        });
    }
    Ok(match parent {
        Source::File(path) => Source::File(path.parent().unwrap_or(Path::new("")).join(loc)),
        Source::Url(url) => {
            let uri: Uri = url.parse().map_err(WarmError::ParentUrl)?;
            let base = url_origin(url).unwrap_or_default();
            if loc.starts_with('/') {
                Source::Url(format!("{base}{loc}"))
            } else {
                Source::Url(format!("{base}{}{loc}", path_dir(uri.path())))
            }
        }
        Source::Proxy(path) => {
            if loc.starts_with('/') {
                Source::Proxy(loc.to_owned())
            } else {
                Source::Proxy(format!("{}{loc}", path_dir(path)))
            }
        }
    })
}

/// What a sitemap lists.
#[derive(Debug, PartialEq, Eq)]
enum SitemapKind {
    Pages,
    Index,
}

/// The root element's kind and every `<loc>`, in order, with entities decoded.
fn parse_sitemap(xml: &str) -> Result<(SitemapKind, Vec<String>), SitemapError> {
    let mut root: Option<&str> = None;
    let mut locs = Vec::new();
    let mut i = 0;
    while let Some(offset) = xml[i..].find('<') {
        let at = i + offset;
        let rest = &xml[at..];
        if rest.starts_with("<!--") {
            i = at + rest.find("-->").map_or(rest.len(), |end| end + 3);
            continue;
        }
        if rest.starts_with("<![CDATA[") {
            i = at + rest.find("]]>").map_or(rest.len(), |end| end + 3);
            continue;
        }
        if rest.starts_with("<?") || rest.starts_with("<!") || rest.starts_with("</") {
            i = at + rest.find('>').map_or(rest.len(), |end| end + 1);
            continue;
        }
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[1..end];
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        let local = name.rsplit(':').next().unwrap_or(name);
        root.get_or_insert(local);
        i = at + end + 1;
        if local == "loc" && !tag.ends_with('/') {
            let (text, after) = element_text(&xml[i..]);
            locs.push(decode_entities(text.trim()));
            i += after;
        }
    }
    match root {
        Some("urlset") => Ok((SitemapKind::Pages, locs)),
        Some("sitemapindex") => Ok((SitemapKind::Index, locs)),
        Some(other) => Err(SitemapError::Root(other.to_owned())),
        None => Err(SitemapError::NoElement),
    }
}

/// The text of an element up to its closing tag (a CDATA section taken as is), and how
/// far the closing tag's start is.
fn element_text(rest: &str) -> (String, usize) {
    let trimmed = rest.trim_start();
    let skipped = rest.len() - trimmed.len();
    if let Some(cdata) = trimmed.strip_prefix("<![CDATA[")
        && let Some(end) = cdata.find("]]>")
    {
        // Entities are not decoded inside CDATA: escape `&` so decoding keeps it.
        let text = cdata[..end].replace('&', "&amp;");
        return (text, skipped + "<![CDATA[".len() + end + 3);
    }
    let end = rest.find('<').unwrap_or(rest.len());
    (rest[..end].to_owned(), end)
}

/// Decode the XML predefined entities and character references.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let decoded = after.find(';').and_then(|semi| {
            let entity = &after[..semi];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &after[len..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// GET a URL; the body of a 2xx answer.
async fn get(
    client: &HttpClient,
    url: &str,
    accept_encoding: Option<&str>,
) -> Result<Bytes, ReadError> {
    let mut request = Request::get(url).header(USER_AGENT, AGENT);
    if let Some(value) = accept_encoding {
        request = request.header(ACCEPT_ENCODING, value);
    }
    let request = request
        .body(Full::new(Bytes::new()))
        .map_err(|source| ReadError::Url {
            url: url.to_owned(),
            source,
        })?;
    let answer = exchange(client, request, TIMEOUT).await?;
    if !answer.status.is_success() {
        return Err(ReadError::Status(answer.status));
    }
    Ok(answer.body)
}

async fn read_source(
    client: &HttpClient,
    base: &str,
    source: &Source,
) -> Result<String, ReadError> {
    let bytes = match source {
        Source::File(path) => Bytes::from(std::fs::read(path)?),
        // Ask for no compression: a sitemap is read here, not served to a browser.
        Source::Url(url) => get(client, url, Some("identity")).await?,
        Source::Proxy(path) => get(client, &format!("{base}{path}"), Some("identity")).await?,
    };
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(ReadError::Gzip);
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| ReadError::NotUtf8)
}

/// Every page path of a sitemap, following indexes; added to `pages` in order.
async fn collect_sitemap(
    client: &HttpClient,
    base: &str,
    top: Source,
    pages: &mut Pages,
) -> Result<(), WarmError> {
    let mut visited = HashSet::new();
    // Depth-first, in document order.
    let mut stack = vec![(top, 1)];
    while let Some((source, depth)) = stack.pop() {
        if !visited.insert(source.clone()) {
            continue;
        }
        let text = match read_source(client, base, &source).await {
            Ok(text) => text,
            Err(error) => {
                return Err(WarmError::Unreadable {
                    sitemap: source,
                    source: error,
                });
            }
        };
        let (kind, locs) = match parse_sitemap(&text) {
            Ok(sitemap) => sitemap,
            Err(problem) => {
                return Err(WarmError::NotASitemap {
                    sitemap: source,
                    problem,
                });
            }
        };
        match kind {
            SitemapKind::Pages => {
                for loc in locs {
                    match page_path(&loc) {
                        Some(path) => pages.add(path),
                        None => eprintln!("isr: skipped {loc:?} in sitemap {source}: not a URL"),
                    }
                }
            }
            SitemapKind::Index if depth >= MAX_DEPTH => {
                eprintln!(
                    "isr: skipped the {} sitemaps listed in {source}: nested deeper than {MAX_DEPTH} levels",
                    locs.len()
                );
            }
            SitemapKind::Index => {
                let mut nested = locs
                    .iter()
                    .map(|loc| resolve(loc, &source).map(|s| (s, depth + 1)))
                    .collect::<Result<Vec<_>, _>>()?;
                nested.reverse();
                stack.extend(nested);
            }
        }
    }
    Ok(())
}

/// A sitemap `<loc>` as a path: a full URL's path and query, or a path as is.
fn page_path(loc: &str) -> Option<String> {
    if loc.starts_with('/') {
        Some(loc.split('#').next().unwrap_or(loc).to_owned())
    } else {
        url_to_path(loc)
    }
}

/// The pages to warm, each once, in the order first seen.
#[derive(Default)]
struct Pages {
    seen: HashSet<String>,
    order: Vec<String>,
}

impl Pages {
    fn add(&mut self, path: String) {
        if self.seen.insert(path.clone()) {
            self.order.push(path);
        }
    }
}

/// What warming one page did.
#[derive(Debug)]
enum Outcome {
    /// The `x-isr-cache` value (empty when absent).
    Cache(String),
    Failed(String),
}

/// The headers that make warm requests fill `--build` (none without it).
fn build_headers(args: &WarmArgs) -> Result<Vec<(&'static str, HeaderValue)>, WarmError> {
    let Some(build) = &args.build else {
        return Ok(Vec::new());
    };
    let token = args
        .admin_token
        .as_ref()
        .ok_or(WarmError::BuildNeedsToken)?;
    let build = HeaderValue::from_str(build).map_err(|_| WarmError::BuildUnsendable)?;
    let mut token = HeaderValue::from_str(&token.0).map_err(|_| WarmError::BuildUnsendable)?;
    token.set_sensitive(true);
    Ok(vec![(WARM_BUILD_HEADER, build), (WARM_TOKEN_HEADER, token)])
}

async fn warm_one(
    client: &HttpClient,
    url: &str,
    accept_encoding: &str,
    extra: &[(&'static str, HeaderValue)],
) -> Outcome {
    let mut request = Request::get(url)
        .header(USER_AGENT, AGENT)
        .header(ACCEPT_ENCODING, accept_encoding);
    for (name, value) in extra {
        request = request.header(*name, value.clone());
    }
    let request = match request.body(Full::new(Bytes::new())) {
        Ok(request) => request,
        Err(error) => return Outcome::Failed(format!("invalid URL: {error}")),
    };
    // The whole page is read, so a render is never cut short by the client leaving.
    match exchange(client, request, TIMEOUT).await {
        Err(error) => Outcome::Failed(with_causes(&error)),
        Ok(answer) if answer.status.is_server_error() => {
            Outcome::Failed(format!("answered {}", answer.status))
        }
        Ok(answer) => Outcome::Cache(
            answer
                .headers
                .get("x-isr-cache")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_uppercase(),
        ),
    }
}

#[derive(Debug, Default)]
struct Summary {
    warmed: usize,
    miss: usize,
    hit: usize,
    stale: usize,
    bypass: usize,
    /// Answers without an `x-isr-cache` header (not from isr?).
    unknown: usize,
    errors: usize,
}

impl Summary {
    fn record(&mut self, outcome: &Outcome) {
        self.warmed += 1;
        match outcome {
            Outcome::Cache(cache) => match cache.as_str() {
                "MISS" => self.miss += 1,
                "HIT" => self.hit += 1,
                "STALE" => self.stale += 1,
                "BYPASS" => self.bypass += 1,
                _ => self.unknown += 1,
            },
            Outcome::Failed(_) => self.errors += 1,
        }
    }

    fn line(&self) -> String {
        let mut line = format!(
            "warmed {}: {} MISS, {} HIT, {} STALE, {} errors",
            self.warmed, self.miss, self.hit, self.stale, self.errors
        );
        if self.bypass > 0 {
            line.push_str(&format!(", {} BYPASS (not cacheable)", self.bypass));
        }
        if self.unknown > 0 {
            line.push_str(&format!(", {} without x-isr-cache", self.unknown));
        }
        line
    }
}

/// `isr warm`.
pub(crate) async fn run(args: &WarmArgs) -> Result<(), WarmError> {
    let https = args
        .sitemaps
        .iter()
        .any(|sitemap| sitemap.starts_with("https://"));
    let client = http_client(https)?;
    let extra = Arc::new(build_headers(args)?);
    let base = args.server.url.as_str();
    let mut pages = Pages::default();
    for path in &args.paths {
        pages.add(path.clone());
    }
    for sitemap in &args.sitemaps {
        collect_sitemap(&client, base, top_source(sitemap), &mut pages).await?;
    }
    if pages.order.is_empty() {
        return Err(WarmError::NoPages);
    }
    let paths = Arc::new(pages.order);
    let total = paths.len();

    let target = if std::io::stdout().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total as u64), target);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} [{elapsed_precise}] {wide_msg}")
    {
        bar.set_style(style);
    }

    let next = Arc::new(AtomicUsize::new(0));
    let (sender, mut results) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..args.concurrency.min(total) {
        let (client, paths, next, sender, extra) = (
            client.clone(),
            paths.clone(),
            next.clone(),
            sender.clone(),
            extra.clone(),
        );
        let base = base.to_owned();
        let accept_encoding = args.accept_encoding.clone();
        tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = paths.get(i) else { break };
                let url = format!("{base}{path}");
                let outcome = warm_one(&client, &url, &accept_encoding, &extra).await;
                if sender.send((i, outcome)).is_err() {
                    break;
                }
            }
        });
    }
    drop(sender);

    let mut summary = Summary::default();
    while let Some((i, outcome)) = results.recv().await {
        summary.record(&outcome);
        bar.inc(1);
        let path = paths.get(i).map_or("", String::as_str);
        bar.set_message(path.to_owned());
        if let Outcome::Failed(why) = &outcome {
            bar.suspend(|| eprintln!("isr: {path}: {why}"));
        }
    }
    bar.finish_and_clear();

    if args.json {
        println!(
            "{}",
            json!({
                "warmed": summary.warmed,
                "miss": summary.miss,
                "hit": summary.hit,
                "stale": summary.stale,
                "bypass": summary.bypass,
                "unknown": summary.unknown,
                "errors": summary.errors,
            })
        );
    } else {
        println!("{}", summary.line());
    }
    if summary.errors > 0 {
        return Err(WarmError::PagesFailed {
            failed: summary.errors,
            warmed: summary.warmed,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sitemaps_are_parsed() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- <loc>https://example.com/commented</loc> -->
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc> https://example.com/a?x=1&amp;y=2 </loc><lastmod>2024-01-01</lastmod></url>
  <url><loc><![CDATA[https://example.com/b?p=1&q=2]]></loc></url>
  <url><sm:loc>https://example.com/c&#x2F;d</sm:loc></url>
</urlset>"#;
        let (kind, locs) = parse_sitemap(xml).unwrap();
        assert_eq!(kind, SitemapKind::Pages);
        assert_eq!(
            locs,
            [
                "https://example.com/a?x=1&y=2",
                "https://example.com/b?p=1&q=2",
                "https://example.com/c/d"
            ]
        );
        let (kind, locs) =
            parse_sitemap("<sitemapindex><sitemap><loc>a.xml</loc></sitemap></sitemapindex>")
                .unwrap();
        assert_eq!((kind, locs), (SitemapKind::Index, vec!["a.xml".to_owned()]));
        assert!(parse_sitemap("<html><body/></html>").is_err());
        assert!(parse_sitemap("").is_err());
        assert!(parse_sitemap("<urlset><loc>unclosed").is_ok());
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("a&amp;b&lt;&gt;&quot;&apos;&#65;&#x42;"),
            "a&b<>\"'AB"
        );
        assert_eq!(
            decode_entities("a & b &bogus; &#xZZ;"),
            "a & b &bogus; &#xZZ;"
        );
    }

    #[test]
    fn nested_sitemaps_resolve() {
        let file = Source::File(PathBuf::from("/srv/site/sitemap.xml"));
        assert_eq!(
            resolve("posts.xml", &file).unwrap(),
            Source::File(PathBuf::from("/srv/site/posts.xml"))
        );
        assert_eq!(
            resolve("https://example.com/s/posts.xml", &file).unwrap(),
            Source::Proxy("/s/posts.xml".to_owned())
        );
        let url = Source::Url("http://127.0.0.1:3000/maps/index.xml".to_owned());
        assert_eq!(
            resolve("http://127.0.0.1:3000/maps/a.xml", &url).unwrap(),
            Source::Url("http://127.0.0.1:3000/maps/a.xml".to_owned())
        );
        assert_eq!(
            resolve("https://example.com/maps/a.xml", &url).unwrap(),
            Source::Proxy("/maps/a.xml".to_owned())
        );
        assert_eq!(
            resolve("b.xml", &url).unwrap(),
            Source::Url("http://127.0.0.1:3000/maps/b.xml".to_owned())
        );
        assert_eq!(
            resolve("/c.xml", &url).unwrap(),
            Source::Url("http://127.0.0.1:3000/c.xml".to_owned())
        );
        // An https sitemap's own nested sitemaps are read from where it was.
        let secure = Source::Url("https://example.com/maps/index.xml".to_owned());
        assert_eq!(
            resolve("https://example.com/maps/a.xml", &secure).unwrap(),
            Source::Url("https://example.com/maps/a.xml".to_owned())
        );
        assert_eq!(
            resolve("http://example.com/maps/a.xml", &secure).unwrap(),
            Source::Proxy("/maps/a.xml".to_owned()),
            "another scheme is another origin"
        );
        let proxy = Source::Proxy("/maps/index.xml".to_owned());
        assert_eq!(
            resolve("d.xml", &proxy).unwrap(),
            Source::Proxy("/maps/d.xml".to_owned())
        );
        assert!(resolve("ftp://x/y.xml", &proxy).is_err());
    }

    #[test]
    fn summary_line() {
        let mut summary = Summary::default();
        for outcome in [
            Outcome::Cache("MISS".into()),
            Outcome::Cache("MISS".into()),
            Outcome::Cache("HIT".into()),
            Outcome::Failed("x".into()),
        ] {
            summary.record(&outcome);
        }
        assert_eq!(summary.line(), "warmed 4: 2 MISS, 1 HIT, 0 STALE, 1 errors");
    }
}
