//! Deploys without a restart, against the real `isr` binary: the build switches by the
//! admin call (`isr build switch`), by the build id file changing, and by an answer naming
//! a new build (`build_id_header`); a new build can be warmed before the switch
//! (`isr warm --build`); and with Redis a switch on one node reaches every node. After a
//! switch no page of the old build is served: render counts and bodies say so.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::process::Command;
use std::time::Duration;

use isr_store::testing::{RedisServer, until};
use support::{KillOnDrop, Page, TestOrigin, TestProxy, get_url, get_url_with, serve};

const ISR: &str = env!("CARGO_BIN_EXE_isr");
const TOKEN: &str = "test-admin-token-0123456789";

/// A page shared caches may keep for an hour, with this body.
fn page(body: &'static str) -> Page {
    Page::ok()
        .header("cache-control", "s-maxage=3600")
        .header("content-type", "text/html")
        .body(body)
}

/// `isr serve` in front of `origin`, with the admin API on and `extra` flags.
async fn start(
    origin: &TestOrigin,
    dir: &tempfile::TempDir,
    extra: &[&str],
) -> (KillOnDrop, String) {
    let mut command = Command::new(ISR);
    for (name, _) in std::env::vars() {
        if name.starts_with("ISR_") {
            command.env_remove(name);
        }
    }
    command.args([
        "serve",
        "--origin",
        &origin.url(),
        "--cache-dir",
        &dir.path().join("cache").display().to_string(),
        "--admin-token",
        TOKEN,
    ]);
    command.args(extra);
    serve(command).await
}

/// Run an `isr` client command against the server at `address`; its standard output.
/// (It blocks its thread: the tests run on two, so the origin answers meanwhile.)
fn client(address: &str, args: &[&str]) -> String {
    let output = Command::new(ISR)
        .args(args)
        .args(["--url", &format!("http://{address}")])
        .env("ISR_ADMIN_TOKEN", TOKEN)
        .output()
        .expect("run isr");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "isr {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// GET `path` through isr: (x-isr-cache, body).
async fn get(address: &str, path: &str) -> (String, String) {
    let answer = get_url(format!("http://{address}{path}"))
        .await
        .expect("isr answers");
    (answer.cache().to_owned(), answer.text())
}

/// The build isr serves, from `GET /_isr/build`.
async fn current_build(address: &str) -> String {
    let authorization = format!("Bearer {TOKEN}");
    let answer = get_url_with(
        format!("http://{address}/_isr/build"),
        &[("authorization", &authorization)],
    )
    .await
    .expect("isr answers");
    answer.json()["current"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_switch_serves_only_the_new_build() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    origin.set("/", page("old build"));
    let (_isr, address) = start(&origin, &dir, &["--build-id", "a"]).await;
    assert_eq!(
        get(&address, "/").await,
        ("MISS".into(), "old build".into())
    );
    assert_eq!(get(&address, "/").await, ("HIT".into(), "old build".into()));

    // The deploy: the origin now renders the new build; the deploy script switches.
    origin.set("/", page("new build"));
    assert_eq!(get(&address, "/").await.1, "old build", "no switch yet");
    let out = client(&address, &["build", "switch", "b"]);
    assert!(out.contains("switched to build b"), "{out}");
    assert_eq!(
        get(&address, "/").await,
        ("MISS".into(), "new build".into())
    );
    assert_eq!(get(&address, "/").await, ("HIT".into(), "new build".into()));
    assert_eq!(origin.renders("/"), 2);

    let out = client(&address, &["build", "switch", "b"]);
    assert!(out.contains("already serving build b"), "{out}");
    let out = client(&address, &["build", "show"]);
    assert!(out.contains("serving build b"), "{out}");
    assert!(out.contains("replaced, newest first: a"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&client(&address, &["build", "show", "--json"])).unwrap();
    assert_eq!(json["current"], "b");
    assert_eq!(json["retired"], serde_json::json!(["a"]));

    // A rollback finds the old build's pages again.
    client(&address, &["build", "switch", "a"]);
    assert_eq!(get(&address, "/").await, ("HIT".into(), "old build".into()));
    assert_eq!(origin.renders("/"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_switch_is_refused_and_changes_nothing() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (_isr, address) = start(&origin, &dir, &["--build-id", "a"]).await;
    let url = format!("http://{address}/_isr/build");
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<isr::Body>();
    for (authorization, body, status) in [
        (format!("Bearer {TOKEN}"), r#"{"id": ""}"#, 400),
        (format!("Bearer {TOKEN}"), r#"{"id": "b", "other": 1}"#, 400),
        (format!("Bearer {TOKEN}"), "not json", 400),
        ("Bearer wrong".to_owned(), r#"{"id": "b"}"#, 401),
    ] {
        let request = http::Request::post(&url)
            .header("authorization", authorization)
            .header("content-type", "application/json")
            .body(isr::Body::from(body.to_owned()))
            .unwrap();
        let answer = client.request(request).await.unwrap();
        assert_eq!(answer.status().as_u16(), status, "{body}");
    }
    assert_eq!(current_build(&address).await, "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_build_id_file_switches_the_build() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("BUILD_ID");
    std::fs::write(&file, "a\n").unwrap();
    origin.set("/", page("old build"));
    let file_arg = file.display().to_string();
    let (_isr, address) = start(&origin, &dir, &["--build-id-file", &file_arg]).await;
    assert_eq!(
        get(&address, "/").await,
        ("MISS".into(), "old build".into())
    );
    assert_eq!(current_build(&address).await, "a");

    origin.set("/", page("new build"));
    // Written as deploy tools do: a new file renamed over the old one.
    let next = dir.path().join("BUILD_ID.next");
    std::fs::write(&next, "b\n").unwrap();
    std::fs::rename(&next, &file).unwrap();
    // The watch is awaited through what isr reports, bounded by a count of polls.
    let mut polls = 0;
    while current_build(&address).await != "b" {
        polls += 1;
        assert!(polls < 400, "the build id file change was not picked up");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        get(&address, "/").await,
        ("MISS".into(), "new build".into())
    );
    assert_eq!(get(&address, "/").await, ("HIT".into(), "new build".into()));

    // A file that holds no build id switches nothing.
    std::fs::write(&file, "  \n").unwrap();
    client(&address, &["build", "switch", "c"]);
    origin.set("/", page("build c"));
    assert_eq!(get(&address, "/").await, ("MISS".into(), "build c".into()));
    assert_eq!(current_build(&address).await, "c");
    assert_eq!(origin.renders("/"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_naming_a_new_build_switches_and_old_answers_are_not_stored() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("isr.toml");
    std::fs::write(&config, "build_id_header = \"X-Deployment-Id\"\n").unwrap();
    let named = |body: &'static str, build: &str| page(body).header("x-deployment-id", build);
    origin.set("/", named("old build", "a"));
    origin.set("/other", named("other, old build", "a"));
    let config_arg = config.display().to_string();
    let (_isr, address) = start(&origin, &dir, &["--config", &config_arg, "--build-id", "a"]).await;
    assert_eq!(
        get(&address, "/").await,
        ("MISS".into(), "old build".into())
    );
    assert_eq!(get(&address, "/").await.0, "HIT");

    // The new build is deployed: the next render (here of another page) names it.
    origin.set("/", named("new build", "b"));
    origin.set("/other", named("other, new build", "b"));
    assert_eq!(get(&address, "/other").await.1, "other, new build");
    assert_eq!(current_build(&address).await, "b");
    assert_eq!(
        get(&address, "/").await,
        ("MISS".into(), "new build".into())
    );
    assert_eq!(get(&address, "/").await, ("HIT".into(), "new build".into()));
    // The answer that switched was keyed under the old build: rendered again, then stored.
    assert_eq!(get(&address, "/other").await.0, "MISS");
    assert_eq!(get(&address, "/other").await.0, "HIT");

    // An old origin still answering (a rolling deploy) is passed on, never stored, and
    // never switches back.
    origin.set("/late", named("late, old build", "a"));
    assert_eq!(get(&address, "/late").await.1, "late, old build");
    assert_eq!(get(&address, "/late").await.0, "BYPASS");
    assert_eq!(origin.renders("/late"), 2);
    assert_eq!(current_build(&address).await, "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_build_is_warmed_before_the_switch() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    origin.set("/", page("old build"));
    origin.set("/about", page("old about"));
    let (_isr, address) = start(&origin, &dir, &["--build-id", "a"]).await;
    assert_eq!(get(&address, "/").await.1, "old build");

    origin.set("/", page("new build"));
    origin.set("/about", page("new about"));
    let out = client(&address, &["warm", "--build", "b", "/", "/about"]);
    assert!(out.contains("warmed 2: 2 MISS"), "{out}");
    assert_eq!((origin.renders("/"), origin.renders("/about")), (2, 1));
    // Visitors still get the served build meanwhile, from the cache.
    assert_eq!(get(&address, "/").await, ("HIT".into(), "old build".into()));
    // A warm header without the token is ignored.
    let answer = get_url_with(
        format!("http://{address}/about"),
        &[("x-isr-warm-build", "b"), ("x-isr-warm-token", "wrong")],
    )
    .await
    .unwrap();
    assert_eq!(
        (answer.cache(), answer.text().as_str()),
        ("MISS", "new about")
    );

    client(&address, &["build", "switch", "b"]);
    assert_eq!(get(&address, "/").await, ("HIT".into(), "new build".into()));
    assert_eq!(
        get(&address, "/about").await,
        ("HIT".into(), "new about".into())
    );
    assert_eq!((origin.renders("/"), origin.renders("/about")), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_needs_the_token_for_a_build() {
    let output = Command::new(ISR)
        .args(["warm", "--build", "b", "/", "--url", "http://127.0.0.1:1"])
        .env_remove("ISR_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--build needs the admin token"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_on_one_node_reaches_every_node() {
    let redis = RedisServer::start();
    let origin = TestOrigin::start().await;
    origin.set("/", page("old build"));
    let toml = "build_id = \"a\"\n[redis]\nurl = \"redis://127.0.0.1:1\"\ntimeout = \"5s\"\n";
    let one = TestProxy::start_node(&origin, toml, &redis.url()).await;
    let two = TestProxy::start_node(&origin, toml, &redis.url()).await;
    assert_eq!(one.get("/").await.text(), "old build");
    assert_eq!(two.get("/").await.text(), "old build");
    assert_eq!(origin.renders("/"), 1);

    origin.set("/", page("new build"));
    assert!(one.handle().switch_build("b").await.unwrap());
    until("the other node hears the switch", || {
        two.handle().build().current == "b"
    })
    .await;
    let answer = two.get("/").await;
    assert_eq!(
        (answer.cache(), answer.text().as_str()),
        ("MISS", "new build")
    );
    let answer = one.get("/").await;
    assert_eq!(
        (answer.cache(), answer.text().as_str()),
        ("HIT", "new build")
    );
    assert_eq!(origin.renders("/"), 2);
    assert_eq!(two.handle().build().retired, ["a"]);
}
