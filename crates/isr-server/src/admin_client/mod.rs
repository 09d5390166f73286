//! The client side of the admin API: `isr purge`, `isr stats`, `isr entries` and `isr build` talk to a
//! running isr over `/_isr/...` with the bearer token.
//!
//! Invariants:
//! - What is sent and what is read are the types of [`isr_core::admin`], the ones the
//!   server answers with, so the client cannot drift from the server. Answers read
//!   leniently (see there), so a server of another version still prints.
//! - `--json` prints the answer as the server sent it (every page of a listing as one
//!   answer), having checked it is JSON.
//! - The token is never printed.

mod format;

use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use isr_core::admin::{
    BuildAnswer, BuildSwitchRequest, ClearAnswer, EntriesPage, EntryInfo, ErrorBody,
    RevalidateAnswer, RevalidateRequest, StatsAnswer,
};
use isr_core::freshness::PurgeMode;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Value, json};

use crate::cli::client::{AdminArgs, BuildAction, BuildArgs, EntriesArgs, PurgeArgs, StatsArgs};
use crate::http_client::{ExchangeError, HttpClient, exchange, http_client};

/// The longest an admin call may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The most pages `isr entries` follows before deciding the server is looping.
const MAX_PAGES: usize = 100_000;

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error("the admin token cannot be sent: it is empty or has characters a header cannot carry")]
    UnsendableToken,
    #[error(transparent)]
    Tls(#[from] isr::TlsError),
    #[error("cannot encode the request")]
    Encode(#[source] serde_json::Error),
    #[error("cannot build a request for {url}")]
    Request {
        url: String,
        #[source]
        source: http::Error,
    },
    #[error("{method} {url} failed (is isr running there, started with --admin-token?)")]
    Unreachable {
        method: Method,
        url: String,
        #[source]
        source: ExchangeError,
    },
    /// A non-2xx answer: the server's message (or the start of its body), and a hint.
    #[error("{method} {url}: {status}: {detail}{hint}")]
    Refused {
        method: Method,
        url: String,
        status: StatusCode,
        detail: String,
        hint: &'static str,
    },
    #[error("{method} {url}: the answer is not JSON: {excerpt}")]
    NotJson {
        method: Method,
        url: String,
        excerpt: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{method} {url}: unexpected answer: {excerpt}")]
    Unexpected {
        method: Method,
        url: String,
        excerpt: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("gave up after {MAX_PAGES} pages of entries: the server keeps sending a cursor")]
    EndlessListing,
    #[error("the server sent the same cursor twice; stopping")]
    RepeatedCursor,
}

/// One running isr's admin API.
struct Admin {
    base: String,
    authorization: HeaderValue,
    client: HttpClient,
}

impl Admin {
    fn new(args: &AdminArgs) -> Result<Admin, ClientError> {
        let token = &args.admin_token.0;
        let mut authorization = HeaderValue::from_str(&format!("Bearer {token}"))
            .ok()
            .filter(|_| !token.is_empty())
            .ok_or(ClientError::UnsendableToken)?;
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
        json_body: Option<Vec<u8>>,
    ) -> Result<Bytes, ClientError> {
        let url = format!("{}{path_and_query}", self.base);
        let mut request = Request::builder()
            .method(method.clone())
            .uri(&url)
            .header(AUTHORIZATION, self.authorization.clone());
        if json_body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = match request.body(Full::new(Bytes::from(json_body.unwrap_or_default()))) {
            Ok(request) => request,
            Err(source) => return Err(ClientError::Request { url, source }),
        };
        let answer = match exchange(&self.client, request, TIMEOUT).await {
            Ok(answer) => answer,
            Err(source) => {
                return Err(ClientError::Unreachable {
                    method,
                    url,
                    source,
                });
            }
        };
        if !answer.status.is_success() {
            return Err(refused(method, url, answer.status, &answer.body));
        }
        Ok(answer.body)
    }

    /// [`Admin::call`], and the answer read as a `T`: the raw answer and `T`.
    async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        json_body: Option<Vec<u8>>,
    ) -> Result<(Bytes, T), ClientError> {
        let raw = self.call(method.clone(), path_and_query, json_body).await?;
        let url = format!("{}{path_and_query}", self.base);
        let excerpt = || excerpt(&raw);
        match serde_json::from_slice(&raw) {
            Ok(answer) => Ok((raw, answer)),
            Err(source) if source.is_data() => Err(ClientError::Unexpected {
                method,
                url,
                excerpt: excerpt(),
                source,
            }),
            Err(source) => Err(ClientError::NotJson {
                method,
                url,
                excerpt: excerpt(),
                source,
            }),
        }
    }

    /// [`Admin::call_json`] for `--json`: printed as sent, once it is known to be JSON;
    /// otherwise read as a `T`.
    async fn call_and_print<T: DeserializeOwned>(
        &self,
        json: bool,
        method: Method,
        path_and_query: &str,
        json_body: Option<Vec<u8>>,
    ) -> Result<Option<T>, ClientError> {
        if json {
            let (raw, IgnoredAny) = self.call_json(method, path_and_query, json_body).await?;
            print_raw(&raw);
            return Ok(None);
        }
        let (_, answer) = self.call_json(method, path_and_query, json_body).await?;
        Ok(Some(answer))
    }
}

/// The error for a non-2xx answer: the server's `error` message when it sent one.
fn refused(method: Method, url: String, status: StatusCode, body: &[u8]) -> ClientError {
    let message = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|body| body.error);
    let hint = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            " (check --admin-token / ISR_ADMIN_TOKEN)"
        }
        StatusCode::NOT_FOUND if message.is_none() => {
            " (is the admin API on? isr serve needs --admin-token)"
        }
        _ => "",
    };
    ClientError::Refused {
        method,
        url,
        status,
        detail: message.unwrap_or_else(|| excerpt(body)),
        hint,
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

/// The revalidate request for these flags. Lists that are empty are left out (the server
/// refuses an empty list rather than guess what it meant).
fn revalidate_request(args: &PurgeArgs) -> RevalidateRequest {
    let list = |items: &[String]| (!items.is_empty()).then(|| items.to_vec());
    RevalidateRequest {
        paths: list(&args.paths),
        tags: list(&args.tags),
        prefixes: list(&args.prefixes),
        keys: list(&args.keys),
        mode: Some(if args.hard {
            PurgeMode::Hard
        } else {
            PurgeMode::Soft
        }),
        regenerate: args.regenerate,
        if_cached: args.if_cached,
        secret: None,
    }
}

/// `isr purge`.
pub(crate) async fn purge(args: &PurgeArgs) -> Result<(), ClientError> {
    let admin = Admin::new(&args.admin)?;
    let json = args.admin.json;
    if args.all {
        let answer: Option<ClearAnswer> = admin
            .call_and_print(json, Method::DELETE, "/_isr/cache", None)
            .await?;
        match answer {
            None => {}
            Some(ClearAnswer { cleared: true }) => println!("cleared the whole cache"),
            Some(ClearAnswer { cleared: false }) => println!("the cache was not cleared"),
        }
        return Ok(());
    }
    let request = revalidate_request(args);
    let body = serde_json::to_vec(&request).map_err(ClientError::Encode)?;
    let answer: Option<RevalidateAnswer> = admin
        .call_and_print(json, Method::POST, "/_isr/revalidate", Some(body))
        .await?;
    if let Some(answer) = answer {
        print!("{}", format::revalidate(&answer));
    }
    Ok(())
}

/// `isr build show` and `isr build switch ID`.
pub(crate) async fn build(args: &BuildArgs) -> Result<(), ClientError> {
    let (admin_args, method, body) = match &args.action {
        BuildAction::Show(show) => (&show.admin, Method::GET, None),
        BuildAction::Switch(switch) => {
            let request = BuildSwitchRequest {
                id: switch.id.clone(),
            };
            let body = serde_json::to_vec(&request).map_err(ClientError::Encode)?;
            (&switch.admin, Method::POST, Some(body))
        }
    };
    let admin = Admin::new(admin_args)?;
    let answer: Option<BuildAnswer> = admin
        .call_and_print(admin_args.json, method, "/_isr/build", body)
        .await?;
    if let Some(answer) = answer {
        print!(
            "{}",
            format::build(&answer, matches!(args.action, BuildAction::Switch(_)))
        );
    }
    Ok(())
}

/// `isr stats`.
pub(crate) async fn stats(args: &StatsArgs) -> Result<(), ClientError> {
    let admin = Admin::new(&args.admin)?;
    let stats: Option<StatsAnswer> = admin
        .call_and_print(args.admin.json, Method::GET, "/_isr/stats", None)
        .await?;
    if let Some(stats) = stats {
        print!("{}", format::stats(&stats));
    }
    Ok(())
}

/// `isr entries`: one page with `--limit`, otherwise every page.
pub(crate) async fn entries(args: &EntriesArgs) -> Result<(), ClientError> {
    let admin = Admin::new(&args.admin)?;
    let json = args.admin.json;
    if args.limit.is_some() {
        let path = entries_query(args.prefix.as_deref(), args.cursor.as_deref(), args.limit);
        let page: Option<EntriesPage> =
            admin.call_and_print(json, Method::GET, &path, None).await?;
        if let Some(page) = page {
            print!("{}", format::entries(&page.entries));
            if let Some(next) = page.next_cursor {
                println!("more: isr entries --limit N --cursor {next}");
            }
        }
        return Ok(());
    }
    if json {
        // Every entry as the server sent it, in one answer.
        let entries: Vec<Value> = every_entry(&admin, args).await?;
        println!("{}", json!({ "entries": entries, "next_cursor": null }));
    } else {
        let entries: Vec<EntryInfo> = every_entry(&admin, args).await?;
        print!("{}", format::entries(&entries));
    }
    Ok(())
}

/// Every entry of the listing, following the cursor from `--cursor` (or the start).
async fn every_entry<E: DeserializeOwned>(
    admin: &Admin,
    args: &EntriesArgs,
) -> Result<Vec<E>, ClientError> {
    let mut entries = Vec::new();
    let mut cursor = args.cursor.clone();
    for _ in 0..MAX_PAGES {
        let path = entries_query(args.prefix.as_deref(), cursor.as_deref(), None);
        let (_, page): (_, EntriesPage<E>) = admin.call_json(Method::GET, &path, None).await?;
        entries.extend(page.entries);
        match page.next_cursor {
            None => return Ok(entries),
            Some(next) if cursor.as_ref() == Some(&next) => {
                return Err(ClientError::RepeatedCursor);
            }
            next => cursor = next,
        }
    }
    Err(ClientError::EndlessListing)
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
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let text = refused(
            Method::GET,
            "http://x/_isr/stats".to_owned(),
            StatusCode::UNAUTHORIZED,
            br#"{"error":"bad token"}"#,
        )
        .to_string();
        assert!(text.contains("401 Unauthorized: bad token"), "{text}");
        assert!(text.contains("--admin-token"), "{text}");
        let text = refused(
            Method::GET,
            "http://x".to_owned(),
            StatusCode::NOT_FOUND,
            b"nope",
        )
        .to_string();
        assert!(text.contains("404 Not Found: nope"), "{text}");
    }
}
