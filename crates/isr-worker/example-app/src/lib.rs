//! An app's own Rust Worker with isr as a library: cacheable requests are answered by
//! `isr_worker::handle` (rendering through `render` on a miss), the rest by the app.

use std::cell::RefCell;
use std::collections::HashMap;

use worker::{Context, Env, Request, Response, Result, event};

thread_local! {
    /// Renders per path in this isolate, shown in each page so tests can count them.
    static RENDERS: RefCell<HashMap<String, u64>> = RefCell::default();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    if let Some(answer) = isr_worker::handle(&req, &env, &ctx, render).await? {
        return Ok(answer);
    }
    // Not cacheable (a POST, a draft, a route with revalidate = 0): the app answers.
    let response = Response::ok(format!("the app answered {} itself", req.path()))?;
    response.headers().set("x-app", "direct")?;
    Ok(response)
}

/// The app's render: what isr caches.
async fn render(req: Request) -> Result<Response> {
    let path = req.path();
    let n = RENDERS.with_borrow_mut(|renders| {
        let n = renders.entry(path.clone()).or_default();
        *n += 1;
        *n
    });
    let response = Response::ok(format!("app render #{n} of {path}"))?;
    response
        .headers()
        .set("content-type", "text/html; charset=utf-8")?;
    Ok(response)
}
