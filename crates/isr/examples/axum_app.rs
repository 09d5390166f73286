//! An axum app behind the ISR layer, with a data cache in front of its "database".
//!
//! Run it with `cargo run -p isr --example axum_app`, then:
//!
//! ```text
//! curl -i http://127.0.0.1:3000/posts/1           # x-isr-cache: MISS, then HIT
//! curl -X POST 'http://127.0.0.1:3000/posts/1/edit?title=Changed'
//! curl -i http://127.0.0.1:3000/posts/1           # STALE once, then the new title
//! curl -X POST 'http://127.0.0.1:3000/purge?tag=posts'
//! ISR_ADMIN_TOKEN=… lets you call the admin API under /_isr/ (e.g. GET /_isr/stats).
//! ```
//!
//! Pages: `/` (fresh 10 s), `/posts/{id}` (fresh 60 s, tagged `posts` and `post:{id}`),
//! `/time` (fresh 5 s), `/api/now` (never cached). Listens on `ISR_EXAMPLE_ADDR`
//! (default `127.0.0.1:3000`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::{get, post};
use isr::{DataCache, DataOptions, Isr, IsrLayer, RouteRule};
use serde::{Deserialize, Serialize};
use tower::Layer;

/// A stand-in for a database, with a query counter.
#[derive(Default)]
struct Database {
    posts: Mutex<BTreeMap<u32, Post>>,
    queries: AtomicU64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Post {
    id: u32,
    title: String,
}

impl Database {
    /// The table itself. A panic elsewhere cannot leave a map of posts half-written, so a
    /// poisoned lock is still safe to use.
    fn table(&self) -> MutexGuard<'_, BTreeMap<u32, Post>> {
        self.posts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn post(&self, id: u32) -> Option<Post> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        // A slow query.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.table().get(&id).cloned()
    }

    async fn posts(&self) -> Vec<Post> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.table().values().cloned().collect()
    }
}

#[derive(Clone)]
struct App {
    db: Arc<Database>,
    data: DataCache,
}

#[derive(Debug)]
struct NotFound;

impl App {
    /// Posts through the data cache: one query per 30 s at most, whatever the traffic.
    async fn posts(&self) -> Vec<Post> {
        let db = Arc::clone(&self.db);
        let options = DataOptions::new(Duration::from_secs(30)).tag("posts");
        self.data
            .with_options("posts", options, move || async move {
                Ok::<_, NotFound>(db.posts().await)
            })
            .await
            .unwrap_or_default()
    }

    async fn post(&self, id: u32) -> Option<Post> {
        let db = Arc::clone(&self.db);
        let options =
            DataOptions::new(Duration::from_secs(30)).tags(["posts", &format!("post:{id}")]);
        self.data
            .with_options(&format!("post:{id}"), options, move || async move {
                db.post(id).await.ok_or(NotFound)
            })
            .await
            .ok()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn home(State(app): State<App>) -> Html<String> {
    let items: String = app
        .posts()
        .await
        .iter()
        .map(|p| format!("<li><a href=\"/posts/{0}\">{1}</a></li>", p.id, p.title))
        .collect();
    Html(format!(
        "<h1>Posts</h1><ul>{items}</ul><p>rendered at {}</p>",
        now_secs()
    ))
}

async fn post_page(
    State(app): State<App>,
    Path(id): Path<u32>,
) -> Result<Html<String>, StatusCode> {
    let post = app.post(id).await.ok_or(StatusCode::NOT_FOUND)?;
    Ok(Html(format!(
        "<h1>{}</h1><p>rendered at {}</p>",
        post.title,
        now_secs()
    )))
}

async fn time_page() -> String {
    format!("rendered at {}\n", now_secs())
}

async fn api_now() -> String {
    format!("{}\n", now_secs())
}

/// `POST /posts/{id}/edit?title=…`: change a post, then purge its data and its pages.
async fn edit(
    State((app, isr)): State<(App, Isr)>,
    Path(id): Path<u32>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<String, (StatusCode, String)> {
    let title = query
        .get("title")
        .ok_or((StatusCode::BAD_REQUEST, "give ?title=".to_owned()))?;
    app.db.table().insert(
        id,
        Post {
            id,
            title: title.clone(),
        },
    );
    let failed = |e: &dyn std::fmt::Display| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    app.data
        .invalidate_tag(&format!("post:{id}"))
        .await
        .map_err(|e| failed(&e))?;
    app.data.invalidate("posts").await.map_err(|e| failed(&e))?;
    isr.revalidate_tag(&format!("post:{id}"))
        .await
        .map_err(|e| failed(&e))?;
    isr.revalidate_path("/").await.map_err(|e| failed(&e))?;
    Ok(format!("post {id} is now {title:?}\n"))
}

/// `POST /purge?tag=…` or `?path=…`: mark pages (and data with that tag) stale.
async fn purge(
    State((app, isr)): State<(App, Isr)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<String, (StatusCode, String)> {
    let bad = |e: &dyn std::fmt::Display| (StatusCode::BAD_REQUEST, e.to_string());
    if let Some(tag) = query.get("tag") {
        isr.revalidate_tag(tag).await.map_err(|e| bad(&e))?;
        app.data.invalidate_tag(tag).await.map_err(|e| bad(&e))?;
        return Ok(format!("purged tag {tag:?}\n"));
    }
    if let Some(path) = query.get("path") {
        isr.revalidate_path(path).await.map_err(|e| bad(&e))?;
        return Ok(format!("purged path {path:?}\n"));
    }
    Err((StatusCode::BAD_REQUEST, "give ?tag= or ?path=\n".to_owned()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = Arc::new(Database::default());
    for (id, title) in [
        (1, "Hello, ISR"),
        (2, "Stale while revalidate"),
        (3, "Tags"),
    ] {
        db.table().insert(
            id,
            Post {
                id,
                title: title.to_owned(),
            },
        );
    }
    let app = App {
        db,
        data: DataCache::memory(16 * 1024 * 1024),
    };

    // The pages, and how each is cached (the same rules `isr.toml` takes).
    let pages = Router::new()
        .route("/", get(home))
        .route("/posts/{id}", get(post_page))
        .route("/time", get(time_page))
        .route("/api/now", get(api_now))
        .with_state(app.clone());
    let layer = IsrLayer::builder()
        .route("/", RouteRule::revalidate(10))
        .route(
            "/posts/[id]",
            RouteRule::revalidate(60).tags(["posts", "post:{id}"]),
        )
        .route("/time", RouteRule::revalidate(5))
        .route("/api/*", RouteRule::pass_through())
        .memory(64 * 1024 * 1024)
        .build()?;
    let cached = layer.layer(pages);
    let isr = cached.handle();

    // Endpoints that are not cached: edits and purges, and the admin API.
    let mut server = Router::new()
        .route("/posts/{id}/edit", post(edit))
        .route("/purge", post(purge))
        .with_state((app, isr.clone()));
    match std::env::var("ISR_ADMIN_TOKEN") {
        Ok(token) if !token.is_empty() => {
            // The admin router's paths are absolute (/_isr/...): merge it, do not nest it.
            server = server.merge(isr::admin::router(isr, token, None));
            println!("admin API under /_isr/ (Authorization: Bearer $ISR_ADMIN_TOKEN)");
        }
        _ => println!("set ISR_ADMIN_TOKEN to turn on the admin API under /_isr/"),
    }
    let server = server.fallback_service(cached);

    let addr = std::env::var("ISR_EXAMPLE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, server).await?;
    Ok(())
}
