//! Store-time compression through the real proxy against a real origin: one render of a
//! page serves br, zstd, gzip and identity clients, each the representation it accepts,
//! with its own length and validator; an origin that compresses is decoded once; a body
//! that does not decode (or decodes past the entry size limit) is passed on as sent and
//! never stored; pages that would not gain stay identity; the disk tier keeps the
//! representations across a restart, and Redis shares them between nodes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request};
use isr::Body;
use isr_store::testing::RedisServer;
use support::{Answer, Page, TestOrigin, TestProxy, get_with};

const TOKEN: &str = "test-admin-token-0123456789";

fn config(extra: &str) -> String {
    format!(
        r#"
admin_token = "{TOKEN}"

[[route]]
path = "/blog/[slug]"
revalidate = 60
{extra}
"#
    )
}

/// About 20 KB of HTML that compresses as pages do.
fn html() -> Bytes {
    let mut page = String::from("<!doctype html><html><head><title>Blog</title></head><body>");
    for i in 0..200 {
        page.push_str(&format!(
            "<article id=\"post-{i}\"><h2>Post {i}</h2><p>Lorem ipsum dolor sit amet, \
             consectetur adipiscing elit.</p></article>\n"
        ));
    }
    page.push_str("</body></html>");
    Bytes::from(page)
}

fn html_page(body: impl Into<Bytes>) -> Page {
    Page::ok()
        .header("content-type", "text/html; charset=utf-8")
        .body(body)
}

/// `body` in `coding`, made with the reference crates (not isr's code).
fn encode(coding: &str, body: &[u8]) -> Vec<u8> {
    match coding {
        "br" => {
            let mut out = Vec::new();
            let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            writer.write_all(body).unwrap();
            drop(writer);
            out
        }
        "zstd" => zstd::encode_all(body, 3).unwrap(),
        "gzip" => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(body).unwrap();
            encoder.finish().unwrap()
        }
        other => panic!("no encoder for {other}"),
    }
}

/// `answer`'s body decoded as its `Content-Encoding` says, with the reference crates.
fn decoded(answer: &Answer) -> Vec<u8> {
    let body = answer.body.as_ref();
    let mut out = Vec::new();
    match answer.header("content-encoding") {
        None => out.extend_from_slice(body),
        Some("br") => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        Some("zstd") => out = zstd::decode_all(body).unwrap(),
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
        }
        Some(other) => panic!("unexpected Content-Encoding {other}"),
    }
    out
}

fn accepting(target: &str, accept_encoding: &str) -> Request<Body> {
    get_with(target, &[("accept-encoding", accept_encoding)])
}

#[tokio::test]
async fn one_render_serves_every_client_the_coding_it_accepts() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, &config("")).await;
    let page = html();
    origin.set("/blog/a", html_page(page.clone()));

    // (Accept-Encoding, the coding sent); `None` for the header: no header at all.
    let clients: [(Option<&str>, Option<&str>); 9] = [
        (Some("gzip, deflate, br, zstd"), Some("br")),
        (Some("gzip"), Some("gzip")),
        (Some("zstd;q=1, br;q=0.5"), Some("zstd")),
        (Some("br;q=0, gzip;q=0.8, zstd;q=0.2"), Some("gzip")),
        (Some("*"), Some("gzip")),
        (Some("identity;q=0, gzip"), Some("gzip")),
        (Some("identity"), None),
        (Some("gzip;q=0, br;q=0, zstd;q=0"), None),
        (None, None),
    ];
    let mut etags: BTreeMap<Option<String>, String> = BTreeMap::new();
    let mut lengths: BTreeMap<Option<String>, usize> = BTreeMap::new();
    for (i, (accept, coding)) in clients.into_iter().enumerate() {
        let request = match accept {
            Some(value) => accepting("/blog/a", value),
            None => get_with("/blog/a", &[]),
        };
        let answer = proxy.send(request).await;
        let label = format!("{accept:?}");
        assert_eq!(
            answer.cache(),
            if i == 0 { "MISS" } else { "HIT" },
            "{label}"
        );
        assert_eq!(answer.header("content-encoding"), coding, "{label}");
        assert_eq!(
            answer.header("content-length"),
            Some(answer.body.len().to_string().as_str()),
            "{label}"
        );
        assert!(
            answer
                .header("vary")
                .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")),
            "{label}: {:?}",
            answer.header("vary")
        );
        assert_eq!(
            decoded(&answer),
            page.as_ref(),
            "{label}: decodes to the page"
        );
        if coding.is_some() {
            assert!(answer.body.len() < page.len() / 4, "{label}: compressed");
        }
        let etag = answer.header("etag").expect("a validator").to_owned();
        let key = coding.map(str::to_owned);
        let held = etags.entry(key.clone()).or_insert_with(|| etag.clone());
        assert_eq!(*held, etag, "{label}: one validator per representation");
        lengths.insert(key, answer.body.len());
    }
    assert_eq!(etags.len(), 4, "identity, br, zstd, gzip");
    let distinct: std::collections::BTreeSet<&String> = etags.values().collect();
    assert_eq!(
        distinct.len(),
        4,
        "every representation has its own validator"
    );
    assert_eq!(origin.renders("/blog/a"), 1, "one render for every client");

    // HEAD and If-None-Match, per representation.
    let head = proxy
        .send(
            Request::head("/blog/a")
                .header("accept-encoding", "gzip")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(head.header("content-encoding"), Some("gzip"));
    let gzip_len = lengths[&Some("gzip".to_owned())];
    assert_eq!(
        head.header("content-length"),
        Some(gzip_len.to_string().as_str())
    );
    assert!(head.body.is_empty());
    let br_etag = etags[&Some("br".to_owned())].clone();
    let conditional = |accept: &'static str| {
        get_with(
            "/blog/a",
            &[
                ("accept-encoding", accept),
                ("if-none-match", br_etag.as_str()),
            ],
        )
    };
    let not_modified = proxy.send(conditional("br")).await;
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    let other = proxy.send(conditional("gzip")).await;
    assert_eq!(
        other.status, 200,
        "the br validator does not match the gzip body"
    );
    assert_eq!(other.header("content-encoding"), Some("gzip"));

    // One entry, listed once, weighing what it holds.
    let listing = proxy
        .admin(
            Method::GET,
            "/_isr/entries?prefix=/blog/a",
            Some(TOKEN),
            None,
        )
        .await
        .json();
    assert_eq!(
        listing["entries"].as_array().map(Vec::len),
        Some(1),
        "{listing}"
    );
    assert_eq!(
        listing["entries"][0]["codings"],
        serde_json::json!(["br", "zstd", "gzip"])
    );
    let held: usize = page.len() + lengths.values().sum::<usize>() - lengths[&None];
    let weight = proxy.layer().store().l1().weight();
    assert!(
        weight >= held as u64,
        "the memory tier counts every representation: {weight} < {held}"
    );

    // The disk tier holds them too: after a restart, still one render.
    let proxy = proxy.restart(&origin, &config("")).await;
    let after = proxy.send(accepting("/blog/a", "br")).await;
    assert_eq!(after.cache(), "HIT");
    assert_eq!(after.header("content-encoding"), Some("br"));
    assert_eq!(decoded(&after), page.as_ref());
    assert_eq!(origin.renders("/blog/a"), 1);
}

#[tokio::test]
async fn an_origin_that_compresses_is_decoded_once_and_served_like_any_page() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, &config("")).await;
    let page = html();
    for coding in ["br", "zstd", "gzip"] {
        let path = format!("/blog/{coding}");
        origin.set(
            &path,
            html_page(encode(coding, &page))
                .header("content-encoding", coding)
                .header("etag", "\"of-the-coded-bytes\""),
        );
        let identity = proxy.send(get_with(&path, &[])).await;
        assert_eq!(identity.cache(), "MISS", "{coding}");
        assert_eq!(identity.header("content-encoding"), None, "{coding}");
        assert_eq!(
            identity.body, page,
            "{coding}: identity clients get the page"
        );
        assert_ne!(identity.header("etag"), Some("\"of-the-coded-bytes\""));
        for accept in ["br", "zstd", "gzip"] {
            let answer = proxy.send(accepting(&path, accept)).await;
            assert_eq!(answer.cache(), "HIT", "{coding} → {accept}");
            assert_eq!(answer.header("content-encoding"), Some(accept));
            assert_eq!(decoded(&answer), page.as_ref(), "{coding} → {accept}");
        }
        assert_eq!(origin.renders(&path), 1, "{coding}");
    }
}

#[tokio::test]
async fn a_body_that_does_not_decode_is_passed_on_as_sent_and_never_stored() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, &config("")).await;
    let body = Bytes::from_static(b"<html>not gzip at all</html>");
    origin.set(
        "/blog/corrupt",
        html_page(body.clone()).header("content-encoding", "gzip"),
    );
    for round in 1..=2 {
        let answer = proxy.send(accepting("/blog/corrupt", "gzip, br")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.cache(), "BYPASS", "not stored");
        assert_eq!(answer.header("content-encoding"), Some("gzip"));
        assert_eq!(answer.body, body, "passed on as sent");
        assert_eq!(origin.renders("/blog/corrupt"), round, "rendered each time");
    }
}

/// RFC 9111 §3: a cache stores what it cannot read. A coding isr does not know is
/// opaque: stored and served as sent, never compressed again.
#[tokio::test]
async fn a_coding_isr_does_not_know_is_stored_and_served_as_sent() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, &config("")).await;
    let body = Bytes::from_static(b"\x1f\x9d\x90payload");
    for (path, coding) in [
        ("/blog/compress", "compress"),
        ("/blog/token", "x-unheard-of"),
    ] {
        origin.set(
            path,
            html_page(body.clone()).header("content-encoding", coding),
        );
        for (round, cache) in [(1, "MISS"), (2, "HIT")] {
            let answer = proxy.send(accepting(path, "gzip, br")).await;
            assert_eq!(answer.status, 200, "{path}");
            assert_eq!(answer.cache(), cache, "{path}: round {round}");
            assert_eq!(answer.header("content-encoding"), Some(coding), "{path}");
            assert_eq!(answer.body, body, "{path}: as sent");
        }
        assert_eq!(origin.renders(path), 1, "{path}: rendered once");
    }
}

#[tokio::test]
async fn a_decompression_bomb_is_passed_on_and_never_stored() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, &config("[cache]\nmax_entry_size = \"1MiB\"")).await;
    let bomb = Bytes::from(encode("gzip", &vec![b' '; 32 << 20]));
    assert!(bomb.len() < 64 << 10, "a small body: {}", bomb.len());
    origin.set(
        "/blog/bomb",
        html_page(bomb.clone()).header("content-encoding", "gzip"),
    );
    for round in 1..=2 {
        let answer = proxy.send(get_with("/blog/bomb", &[])).await;
        assert_eq!(answer.cache(), "BYPASS");
        assert_eq!(answer.body, bomb, "passed on as sent, never inflated");
        assert_eq!(origin.renders("/blog/bomb"), round);
    }
    assert!(proxy.layer().store().l1().is_empty());
}

#[tokio::test]
async fn pages_that_would_not_gain_are_identity_only() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, &config("")).await;
    let page = html();
    let pages = [
        ("/blog/small", html_page("<p>a short page</p>")),
        (
            "/blog/image",
            Page::ok()
                .header("content-type", "image/png")
                .body(page.clone()),
        ),
        (
            "/blog/notransform",
            html_page(page.clone()).header("cache-control", "public, s-maxage=60, no-transform"),
        ),
    ];
    for (path, answer) in pages {
        origin.set(path, answer);
        let first = proxy.send(accepting(path, "gzip, deflate, br, zstd")).await;
        let second = proxy.send(accepting(path, "gzip, deflate, br, zstd")).await;
        assert_eq!(second.cache(), "HIT", "{path}");
        for answer in [first, second] {
            assert_eq!(answer.header("content-encoding"), None, "{path}");
            assert_eq!(answer.header("vary"), None, "{path}");
        }
    }
}

#[tokio::test]
async fn the_codings_made_follow_the_configuration() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(
        &origin,
        &config("[compression]\nbr = false\nzstd = 19\nmin_size = \"64KiB\""),
    )
    .await;
    origin.set("/blog/big", html_page(html().repeat(4)));
    origin.set("/blog/under", html_page(html()));
    let big = proxy
        .send(accepting("/blog/big", "gzip, deflate, br, zstd"))
        .await;
    assert_eq!(big.header("content-encoding"), Some("zstd"), "no br made");
    let br_only = proxy.send(accepting("/blog/big", "br")).await;
    assert_eq!(br_only.header("content-encoding"), None);
    let under = proxy.send(accepting("/blog/under", "zstd")).await;
    assert_eq!(under.header("content-encoding"), None, "under min_size");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_shares_the_representations_between_nodes() {
    let redis = RedisServer::start();
    let origin = TestOrigin::start().await;
    let toml = config("[redis]\nurl = \"redis://127.0.0.1:1\"\ntimeout = \"5s\"");
    let first = Arc::new(TestProxy::start_node(&origin, &toml, &redis.url()).await);
    let second = Arc::new(TestProxy::start_node(&origin, &toml, &redis.url()).await);
    let page = html();
    origin.set("/blog/shared", html_page(page.clone()));
    let made = first.send(accepting("/blog/shared", "br")).await;
    assert_eq!(made.cache(), "MISS");
    assert_eq!(made.header("content-encoding"), Some("br"));
    for accept in ["br", "zstd", "gzip"] {
        let answer = second.send(accepting("/blog/shared", accept)).await;
        assert_eq!(answer.cache(), "HIT", "{accept}");
        assert_eq!(answer.header("content-encoding"), Some(accept));
        assert_eq!(decoded(&answer), page.as_ref());
        if accept == "br" {
            assert_eq!(answer.body, made.body, "the bytes the first node made");
        }
    }
    assert_eq!(
        second.stats().renders,
        0,
        "the second node rendered and compressed nothing"
    );
    assert_eq!(origin.renders("/blog/shared"), 1);
}
