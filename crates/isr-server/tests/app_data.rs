//! An app's shared data cache and page tags over the admin API (`/_isr/data`,
//! `/_isr/tags`), what a Next.js cache handler uses: values stored by key with tags and
//! lifetimes, judged by the engine's purge records; tags learned for a path, so a purge
//! of a tag reaches pages whose origin sent no tag; clear 4xx on bad input; and two nodes
//! sharing a real `redis-server`, where a purge sent to one is visible on the other.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::sync::Arc;
use std::time::Instant;

use http::Method;
use isr_core::admin::data::MAX_TAG_PATHS;
use isr_store::testing::{RedisServer, concurrently};
use serde_json::{Value, json};
use support::{Answer, TestOrigin, TestProxy};

const TOKEN: &str = "test-admin-token-0123456789";

/// Pages cached by a route with no tags, as `next start` answers (it sends none).
fn config() -> String {
    format!(
        r#"admin_token = "{TOKEN}"
memory = "8MiB"

[[route]]
path = "/posts/[id]"
revalidate = 60
expire = 3600

[redis]
url = "redis://127.0.0.1:1"
timeout = "5s"
"#
    )
}

/// The config without its `[redis]` table (a single node on its disk store).
fn single_node_config() -> String {
    let text = config();
    text[..text.find("[redis]").unwrap()].to_owned()
}

async fn call(node: &TestProxy, method: Method, target: &str, body: Option<Value>) -> Answer {
    let body = body.map(|b| b.to_string());
    node.admin(method, target, Some(TOKEN), body.as_deref())
        .await
}

async fn put(node: &TestProxy, body: Value) -> Answer {
    call(node, Method::PUT, "/_isr/data", Some(body)).await
}

async fn read(node: &TestProxy, query: &str) -> Answer {
    call(node, Method::GET, &format!("/_isr/data?{query}"), None).await
}

async fn purge(node: &TestProxy, body: Value) -> Answer {
    let answer = call(node, Method::POST, "/_isr/revalidate", Some(body)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer
}

async fn attach(node: &TestProxy, path: &str, tags: &[&str]) -> Answer {
    let answer = call(
        node,
        Method::POST,
        "/_isr/tags",
        Some(json!({ "path": path, "tags": tags })),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer
}

fn assert_error(answer: &Answer, status: u16, mentions: &str) {
    assert_eq!(answer.status, status, "{}", answer.text());
    let error = answer.json()["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains(mentions),
        "{error:?} should mention {mentions:?}"
    );
}

#[tokio::test]
async fn values_are_stored_read_and_removed_by_key_with_their_tags_and_lifetimes() {
    let origin = TestOrigin::start().await;
    let node = TestProxy::start(&origin, &single_node_config()).await;

    let stored = put(
        &node,
        json!({ "key": "fetch:abc", "value": "{\"posts\":[1,2]}", "tags": ["posts"], "revalidate": 30, "expire": 300 }),
    )
    .await;
    assert_eq!(stored.status, 200, "{}", stored.text());
    assert_eq!(stored.header("cache-control"), Some("no-store"));
    let made = stored.json()["created_at"].as_u64().unwrap();

    let answer = read(&node, "key=fetch:abc").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    assert_eq!(json["value"], "{\"posts\":[1,2]}");
    assert_eq!(json["tags"], json!(["posts"]));
    assert_eq!(json["state"], "fresh");
    assert_eq!(json["revalidate"], 30);
    assert_eq!(json["expire"], 300);
    assert_eq!(json["created_at"].as_u64(), Some(made));

    // Past its revalidate time: stale; past its expiry: gone.
    node.advance(31);
    assert_eq!(read(&node, "key=fetch:abc").await.json()["state"], "stale");
    node.advance(300);
    assert_error(&read(&node, "key=fetch:abc").await, 404, "no value");

    // Removed: gone, and a second removal says so.
    put(&node, json!({ "key": "k", "value": "v" })).await;
    assert_eq!(read(&node, "key=k").await.json()["state"], "fresh");
    let removed = call(&node, Method::DELETE, "/_isr/data?key=k", None).await;
    assert_eq!(removed.json(), json!({ "removed": true }));
    assert_error(&read(&node, "key=k").await, 404, "no value");
    let again = call(&node, Method::DELETE, "/_isr/data?key=k", None).await;
    assert_eq!(again.json(), json!({ "removed": false }));
    // Stored again after the removal: served again.
    put(&node, json!({ "key": "k", "value": "v2" })).await;
    assert_eq!(read(&node, "key=k").await.json()["value"], "v2");

    // Data entries are not pages: the listing of entries never shows them.
    let listing = call(&node, Method::GET, "/_isr/entries", None).await;
    assert_eq!(listing.json()["entries"], json!([]));
    assert_eq!(origin.total(), 0);
}

#[tokio::test]
async fn tag_purges_reach_values_by_their_own_tags_and_the_tags_a_reader_names() {
    let origin = TestOrigin::start().await;
    let node = TestProxy::start(&origin, &single_node_config()).await;
    put(
        &node,
        json!({ "key": "a", "value": "1", "tags": ["posts"] }),
    )
    .await;
    put(
        &node,
        json!({ "key": "b", "value": "2", "tags": ["users"] }),
    )
    .await;

    // Soft: still served, reported purged (the reader decides: a cache handler refetches).
    purge(&node, json!({ "tags": ["posts"] })).await;
    assert_eq!(read(&node, "key=a").await.json()["state"], "purged");
    assert_eq!(read(&node, "key=b").await.json()["state"], "fresh");

    // A tag the reader names (Next's implicit tags of the page reading it) is checked too.
    purge(&node, json!({ "tags": ["_N_T_/posts/1"], "mode": "hard" })).await;
    assert_eq!(read(&node, "key=b").await.json()["state"], "fresh");
    let query = "key=b&tag=_N_T_%2Fposts%2F1";
    assert_error(&read(&node, query).await, 404, "no value");

    // Stored after the purge: fresh again.
    node.advance(1);
    put(
        &node,
        json!({ "key": "a", "value": "1b", "tags": ["posts"] }),
    )
    .await;
    assert_eq!(read(&node, "key=a").await.json()["state"], "fresh");
    // Made before the purge (the app says when): the purge reaches it.
    let before = support::START.0;
    put(
        &node,
        json!({ "key": "old", "value": "x", "tags": ["posts"], "created_at": before }),
    )
    .await;
    purge(&node, json!({ "tags": ["posts"], "mode": "hard" })).await;
    assert_error(&read(&node, "key=old").await, 404, "no value");

    // Paths and prefixes never reach a value (but `/`, which is everything); purging
    // everything does.
    put(&node, json!({ "key": "/posts/1", "value": "p" })).await;
    purge(
        &node,
        json!({ "paths": ["/posts/1"], "prefixes": ["/posts"], "mode": "hard" }),
    )
    .await;
    assert_eq!(read(&node, "key=/posts/1").await.json()["state"], "fresh");
    let cleared = call(&node, Method::DELETE, "/_isr/cache", None).await;
    assert_eq!(cleared.status, 200);
    assert_error(&read(&node, "key=/posts/1").await, 404, "no value");
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_and_stores_nothing() {
    let origin = TestOrigin::start().await;
    let node = TestProxy::start(&origin, &single_node_config()).await;

    let no_token = node
        .admin(Method::GET, "/_isr/data?key=a", None, None)
        .await;
    assert_eq!(no_token.status, 401);
    let no_token = node
        .admin(Method::POST, "/_isr/tags", Some("wrong"), Some("{}"))
        .await;
    assert_eq!(no_token.status, 401);

    let cases: Vec<(Value, &str)> = vec![
        (json!({ "value": "v" }), "missing field `key`"),
        (json!({ "key": "", "value": "v" }), "`key`"),
        (json!({ "key": "k\u{7}", "value": "v" }), "`key`"),
        (json!({ "key": "k".repeat(2049), "value": "v" }), "`key`"),
        (
            json!({ "key": "k", "value": "v", "ttl": 5 }),
            "unknown field `ttl`",
        ),
        (
            json!({ "key": "k", "value": "v", "tags": [""] }),
            "`tags[0]`",
        ),
        (
            json!({ "key": "k", "value": "v", "tags": ["t".repeat(257)] }),
            "`tags[0]`",
        ),
        (
            json!({ "key": "k", "value": "v", "tags": (0..129).map(|i| format!("t{i}")).collect::<Vec<_>>() }),
            "`tags` has 129 items",
        ),
        (
            json!({ "key": "k", "value": "v", "revalidate": 10, "expire": 5 }),
            "`expire`",
        ),
        (json!({ "key": "k", "value": 5 }), "invalid JSON"),
    ];
    for (body, mentions) in cases {
        assert_error(&put(&node, body).await, 400, mentions);
    }
    let not_json = node
        .admin(Method::PUT, "/_isr/data", Some(TOKEN), Some("{nope"))
        .await;
    assert_error(&not_json, 400, "invalid JSON");
    assert_error(&read(&node, "tag=a").await, 400, "`key` is missing");
    assert_error(&read(&node, "key=a&key=b").await, 400, "repeated");
    assert_error(
        &read(&node, "key=a&limit=3").await,
        400,
        "unknown field `limit`",
    );
    assert_error(&read(&node, "key=k").await, 404, "no value");

    // Over the size bound: 413, nothing stored.
    let huge = json!({ "key": "k", "value": "x".repeat(33 * 1024 * 1024) });
    let answer = put(&node, huge).await;
    assert_eq!(answer.status, 413, "{}", answer.text());
    assert_error(&read(&node, "key=k").await, 404, "no value");

    let tag_cases: Vec<(Value, &str)> = vec![
        (json!({ "path": "/p", "tags": [] }), "`tags` is empty"),
        (json!({ "path": "p", "tags": ["a"] }), "`path`"),
        (
            json!({ "path": "/p", "tags": ["a"], "extra": true }),
            "unknown field",
        ),
        (json!({ "tags": ["a"] }), "missing field `path`"),
    ];
    for (body, mentions) in tag_cases {
        let answer = call(&node, Method::POST, "/_isr/tags", Some(body)).await;
        assert_error(&answer, 400, mentions);
    }
}

#[tokio::test]
async fn a_tag_learned_for_a_path_makes_its_purges_reach_that_page() {
    let origin = TestOrigin::start().await;
    let node = TestProxy::start(&origin, &single_node_config()).await;
    for path in ["/posts/1", "/posts/2", "/posts/3"] {
        assert_eq!(node.get(path).await.cache(), "MISS");
        assert_eq!(node.get(path).await.cache(), "HIT");
    }
    // The origin sent no tags: a tag purge reaches nothing yet.
    purge(&node, json!({ "tags": ["posts"] })).await;
    assert_eq!(node.get("/posts/1").await.cache(), "HIT");

    // The app tells isr what each page carries (Next's implicit path tags included).
    let answer = attach(
        &node,
        "/posts/1",
        &["posts", "_N_T_/posts/1", "_N_T_/layout"],
    )
    .await;
    assert_eq!(answer.json(), json!({ "path": "/posts/1", "added": 3 }));
    attach(
        &node,
        "/posts/2",
        &["posts", "_N_T_/posts/2", "_N_T_/layout"],
    )
    .await;
    attach(&node, "/posts/3", &["_N_T_/posts/3"]).await;
    // Told again: nothing new.
    let again = attach(&node, "/posts/1", &["posts", "_N_T_/posts/1"]).await;
    assert_eq!(again.json()["added"], 0);

    // A soft purge of a tag: its pages are served stale while one render runs.
    purge(&node, json!({ "tags": ["posts"] })).await;
    assert_eq!(node.get("/posts/1").await.cache(), "STALE");
    assert_eq!(node.get("/posts/2").await.cache(), "STALE");
    assert_eq!(
        node.get("/posts/3").await.cache(),
        "HIT",
        "does not carry it"
    );

    // A hard purge of an implicit path tag (Next's revalidatePath): that page renders.
    let renders = origin.renders("/posts/3");
    node.advance(1);
    purge(&node, json!({ "tags": ["_N_T_/posts/3"], "mode": "hard" })).await;
    assert_eq!(node.get("/posts/3").await.cache(), "MISS");
    assert_eq!(origin.renders("/posts/3"), renders + 1);
}

#[tokio::test]
async fn a_purge_before_a_pages_tags_arrive_still_reaches_it_but_not_a_later_render() {
    // A cache handler reports a page's tags after Next answered: a purge can land between.
    let origin = TestOrigin::start().await;
    let node = TestProxy::start(&origin, &single_node_config()).await;
    assert_eq!(node.get("/posts/1").await.cache(), "MISS");
    purge(&node, json!({ "tags": ["late"], "mode": "hard" })).await;
    assert_eq!(
        node.get("/posts/1").await.cache(),
        "HIT",
        "not known to carry it yet"
    );

    // Rendered after the purge: the purge does not reach it once its tags arrive.
    node.advance(1);
    assert_eq!(node.get("/posts/2").await.cache(), "MISS");
    attach(&node, "/posts/2", &["late"]).await;
    assert_eq!(node.get("/posts/2").await.cache(), "HIT");

    // Rendered before the purge: it does.
    attach(&node, "/posts/1", &["late", "_N_T_/posts/1"]).await;
    assert_eq!(node.get("/posts/1").await.cache(), "MISS");
    assert_eq!(origin.renders("/posts/1"), 2);

    let known = call(&node, Method::GET, "/_isr/tags?path=/posts/1", None).await;
    assert_eq!(
        known.json(),
        json!({ "path": "/posts/1", "tags": ["late", "_N_T_/posts/1"] })
    );
    let unknown = call(&node, Method::GET, "/_isr/tags?path=/nowhere", None).await;
    assert_eq!(unknown.json(), json!({ "path": "/nowhere", "tags": [] }));
    let bad = call(&node, Method::GET, "/_isr/tags", None).await;
    assert_error(&bad, 400, "`path` is missing");
}

#[tokio::test]
async fn a_tag_on_more_pages_than_its_index_holds_purges_everything() {
    // In memory: thousands of index writes, which a durable store would make slow.
    let origin = TestOrigin::start().await;
    let engine = support::TestEngine::start(&origin, &single_node_config()).await;
    assert_eq!(engine.get("/posts/kept").await.cache(), "MISS");
    let handle = engine.handle();
    for i in 0..=MAX_TAG_PATHS {
        let tags = isr_core::admin::data::TagsRequest {
            path: format!("/posts/{i}"),
            tags: vec!["everywhere".to_owned()],
        }
        .check()
        .unwrap();
        handle.attach_tags(&tags).await.unwrap();
    }
    let tag = isr::Target::tag("everywhere").unwrap();
    handle.purge(&[tag], isr::PurgeMode::Soft).await.unwrap();
    assert_eq!(
        engine.get("/posts/kept").await.cache(),
        "STALE",
        "never less than the tag reaches"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_redis_share_values_and_tags_and_a_purge_on_one_is_seen_by_the_other() {
    let redis = RedisServer::start();
    let origin = TestOrigin::start().await;
    let a = Arc::new(TestProxy::start_node(&origin, &config(), &redis.url()).await);
    let b = Arc::new(TestProxy::start_node(&origin, &config(), &redis.url()).await);

    // A value stored through one node is read through the other.
    put(
        &a,
        json!({ "key": "shared", "value": "from a", "tags": ["posts"] }),
    )
    .await;
    let seen = read(&b, "key=shared").await;
    assert_eq!(seen.status, 200, "{}", seen.text());
    assert_eq!(seen.json()["value"], "from a");
    // Replaced through B: A reads the new value (its memory copy is dropped).
    a.advance(1);
    b.advance(1);
    put(
        &b,
        json!({ "key": "shared", "value": "from b", "tags": ["posts"] }),
    )
    .await;
    // The announcement of B's write drops A's older copy.
    let mut value = String::new();
    for _ in 0..500 {
        value = read(&a, "key=shared").await.json()["value"]
            .as_str()
            .unwrap()
            .to_owned();
        if value == "from b" {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(value, "from b");

    // Both nodes learn tags for different pages of one tag at once: the index loses none.
    let paths: Vec<String> = (0..20).map(|i| format!("/posts/{i}")).collect();
    let nodes = [Arc::clone(&a), Arc::clone(&b)];
    let attached = concurrently(paths.len(), {
        let paths = paths.clone();
        move |i| {
            let node = Arc::clone(&nodes[i % 2]);
            let path = paths[i].clone();
            async move {
                let tags = [
                    "posts".to_owned(),
                    format!("_N_T_{path}"),
                    "_N_T_/layout".to_owned(),
                ];
                let body = json!({ "path": path, "tags": tags });
                call(&node, Method::POST, "/_isr/tags", Some(body)).await
            }
        }
    })
    .await;
    assert!(attached.iter().all(|a| a.status == 200));
    for path in &paths {
        assert_eq!(a.get(path).await.cache(), "MISS");
        assert_eq!(b.get(path).await.cache(), "HIT", "from Redis");
    }
    let renders = origin.total();

    // A purge of the tag sent to A: every page of it is stale on B, within 50 ms.
    let sent = Instant::now();
    let purged = tokio::spawn({
        let a = Arc::clone(&a);
        async move { purge(&a, json!({ "tags": ["posts"] })).await }
    });
    let mut polls = 0u32;
    loop {
        polls += 1;
        if b.get("/posts/0").await.cache() == "STALE" {
            break;
        }
        assert!(polls < 100_000, "B never saw the purge");
    }
    let visible = sent.elapsed();
    purged.await.unwrap();
    println!("a tag purge sent to node A was visible on node B after {visible:?} ({polls} polls)");
    assert!(
        visible.as_millis() < 50,
        "visible on B after {visible:?} ({polls} polls)"
    );
    for path in &paths[1..] {
        assert_eq!(b.get(path).await.cache(), "STALE", "{path}");
    }
    // The values tagged `posts` are purged on both nodes too.
    assert_eq!(read(&a, "key=shared").await.json()["state"], "purged");
    assert_eq!(read(&b, "key=shared").await.json()["state"], "purged");

    // Every stale page regenerated once across the two nodes.
    isr_store::testing::until("one regeneration per page", || {
        origin.total() >= renders + 20
    })
    .await;
    // A hard purge of one page's implicit tag through B: a MISS on A.
    a.advance(5);
    b.advance(5);
    purge(&b, json!({ "tags": ["_N_T_/posts/7"], "mode": "hard" })).await;
    let mut polls = 0u32;
    while a.get("/posts/7").await.cache() != "MISS" {
        polls += 1;
        assert!(polls < 100_000, "A never saw the hard purge");
    }
}
