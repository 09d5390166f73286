//! What an isolate keeps between requests, beside its settings: its copy of the purge
//! records, and the recursion-guard secret.
//!
//! Invariants:
//! - The copy of the purge records is never older than `ISR_PURGE_CACHE_MS` when a read is
//!   judged (it is refreshed first), except when the Durable Object cannot be reached:
//!   then the last copy is used and a warning is logged.
//! - A purge sent through this isolate is in its copy before the purge is answered.
//! - The secret is `ISR_RENDER_SECRET`, else the Durable Object's, asked once.

use std::cell::RefCell;
use std::rc::Rc;

use isr_core::freshness::Invalidation;
use isr_core::purge::{PurgeState, Target};

use crate::settings::Settings;
use crate::state::StateClient;

#[derive(Default)]
struct Isolate {
    purges: PurgeCache,
    secret: Option<String>,
}

#[derive(Default)]
struct PurgeCache {
    state: Rc<PurgeState>,
    /// The Durable Object's sequence number the copy is up to (0: nothing loaded).
    seq: u64,
    /// When the copy was last refreshed (ms), if ever.
    refreshed_at: Option<u64>,
}

thread_local! {
    static ISOLATE: RefCell<Isolate> = RefCell::default();
}

/// The purge records, refreshed from the Durable Object when the isolate's copy is older
/// than `max_age_ms`.
pub(crate) async fn purge_state(client: &StateClient, max_age_ms: u64, now: u64) -> Rc<PurgeState> {
    let (state, seq, fresh) = ISOLATE.with_borrow(|isolate| {
        let cache = &isolate.purges;
        let fresh = cache
            .refreshed_at
            .is_some_and(|at| now.saturating_sub(at) < max_age_ms);
        (Rc::clone(&cache.state), cache.seq, fresh)
    });
    if fresh {
        return state;
    }
    let answer = match client.records(seq).await {
        Ok(answer) => answer,
        Err(error) => {
            worker::console_warn!("isr: purge records could not be refreshed: {error}");
            return state;
        }
    };
    ISOLATE.with_borrow_mut(|isolate| {
        let cache = &mut isolate.purges;
        if answer.full {
            cache.state = Rc::new(PurgeState::default());
        }
        let records = Rc::make_mut(&mut cache.state);
        for record in &answer.records {
            if let Some(target) = Target::from_record_name(&record.name) {
                let invalidation = Invalidation {
                    at: isr_core::UnixMillis(record.at),
                    mode: record.mode,
                };
                records.record(&target, invalidation);
            }
        }
        cache.seq = if answer.full {
            answer.seq
        } else {
            cache.seq.max(answer.seq)
        };
        cache.refreshed_at = Some(now);
        Rc::clone(&cache.state)
    })
}

/// Put a purge this isolate just recorded in its copy at once.
pub(crate) fn note_purge(targets: &[Target], invalidation: Invalidation) {
    ISOLATE.with_borrow_mut(|isolate| {
        let records = Rc::make_mut(&mut isolate.purges.state);
        for target in targets {
            records.record(target, invalidation);
        }
    });
}

/// The recursion-guard secret: `ISR_RENDER_SECRET`, else the Durable Object's.
pub(crate) async fn render_secret(
    settings: &Settings,
    client: &StateClient,
) -> worker::Result<String> {
    if let Some(secret) = &settings.render_secret {
        return Ok(secret.clone());
    }
    if let Some(secret) = ISOLATE.with_borrow(|isolate| isolate.secret.clone()) {
        return Ok(secret);
    }
    let secret = client.secret().await?;
    ISOLATE.with_borrow_mut(|isolate| isolate.secret = Some(secret.clone()));
    Ok(secret)
}
