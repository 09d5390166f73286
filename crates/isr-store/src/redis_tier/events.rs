//! The announcements nodes publish on `P:events`, one line of text each:
//!
//! - `p <at ms> <0|1> <record name>`: an invalidation was recorded (1: hard).
//! - `s <node> <created_at ms> <storage key>`: an entry was stored.
//! - `c <node>`: every entry was removed.
//! - `b <node> <build id>`: every node serves this build from now on.
//!
//! The free-form field (name, key) comes last, so it may hold spaces. A message that does
//! not parse is ignored: a node never acts on what it cannot read.

use isr_core::UnixMillis;
use isr_core::freshness::{Invalidation, PurgeMode};

use crate::cluster::ClusterEvent;

/// The text of an announcement (never [`ClusterEvent::Resync`], which is local).
pub(crate) fn encode(event: &ClusterEvent) -> Option<String> {
    match event {
        ClusterEvent::Purged { name, invalidation } => Some(format!(
            "p {} {} {name}",
            invalidation.at.0,
            mode_digit(invalidation.mode)
        )),
        ClusterEvent::Stored {
            node,
            key,
            created_at,
        } => Some(format!("s {node} {} {key}", created_at.0)),
        ClusterEvent::Cleared { node } => Some(format!("c {node}")),
        ClusterEvent::BuildSwitched { node, build } => Some(format!("b {node} {build}")),
        ClusterEvent::Resync => None,
    }
}

pub(crate) fn decode(text: &str) -> Option<ClusterEvent> {
    let (kind, rest) = text.split_once(' ')?;
    match kind {
        "p" => {
            let mut fields = rest.splitn(3, ' ');
            let at = fields.next()?.parse().ok()?;
            let mode = match fields.next()? {
                "0" => PurgeMode::Soft,
                "1" => PurgeMode::Hard,
                _ => return None,
            };
            let name = fields.next()?.to_owned();
            Some(ClusterEvent::Purged {
                name,
                invalidation: Invalidation {
                    at: UnixMillis(at),
                    mode,
                },
            })
        }
        "s" => {
            let mut fields = rest.splitn(3, ' ');
            let node = fields.next()?.parse().ok()?;
            let created_at = UnixMillis(fields.next()?.parse().ok()?);
            let key = fields.next()?.to_owned();
            Some(ClusterEvent::Stored {
                node,
                key,
                created_at,
            })
        }
        "c" => Some(ClusterEvent::Cleared {
            node: rest.parse().ok()?,
        }),
        "b" => {
            let (node, build) = rest.split_once(' ')?;
            Some(ClusterEvent::BuildSwitched {
                node: node.parse().ok()?,
                build: build.to_owned(),
            })
        }
        _ => None,
    }
}

/// How a purge record's mode is written, in announcements and in the purge hash.
pub(crate) fn mode_digit(mode: PurgeMode) -> u8 {
    match mode {
        PurgeMode::Soft => 0,
        PurgeMode::Hard => 1,
    }
}

/// A purge hash value, `"<at ms>:<0|1>"`.
pub(crate) fn parse_record(value: &str) -> Option<Invalidation> {
    let (at, mode) = value.split_once(':')?;
    Some(Invalidation {
        at: UnixMillis(at.parse().ok()?),
        mode: match mode {
            "0" => PurgeMode::Soft,
            "1" => PurgeMode::Hard,
            _ => return None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_announcement_round_trips() {
        let events = [
            ClusterEvent::Purged {
                name: "t:blog post".to_owned(),
                invalidation: Invalidation {
                    at: UnixMillis(1_700_000_000_123),
                    mode: PurgeMode::Hard,
                },
            },
            ClusterEvent::Stored {
                node: u64::MAX,
                key: "v1|s|b|html|br|/a b".to_owned(),
                created_at: UnixMillis(5),
            },
            ClusterEvent::Cleared { node: 7 },
            ClusterEvent::BuildSwitched {
                node: 3,
                build: "build 2".into(),
            },
        ];
        for event in events {
            assert_eq!(decode(&encode(&event).unwrap()), Some(event));
        }
        assert_eq!(encode(&ClusterEvent::Resync), None);
    }

    #[test]
    fn garbage_is_ignored() {
        for text in [
            "",
            "p",
            "p x 1 t:a",
            "p 1 2 t:a",
            "s 1 2",
            "c",
            "c x",
            "z 1",
            "s a 1 k",
        ] {
            assert_eq!(decode(text), None, "{text:?}");
        }
        assert_eq!(parse_record("12:1").map(|i| i.at), Some(UnixMillis(12)));
        assert_eq!(parse_record("12"), None);
        assert_eq!(parse_record("x:0"), None);
    }
}
