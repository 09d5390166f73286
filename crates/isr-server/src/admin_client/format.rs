//! The readable lines `isr purge`, `isr stats` and `isr entries` print for the admin API's
//! answers (without `--json`).
//!
//! Invariants: a figure the server did not send is left out of a line, never printed as a
//! made-up zero; every line ends with a newline.

use std::fmt::Write as _;

use isr_core::admin::{BuildAnswer, EntryInfo, RevalidateAnswer, StatsAnswer};
use isr_core::freshness::PurgeMode;

/// `purged (soft, marked stale): 1 path, 2 tags, 1 prefix`, then what was regenerated or
/// skipped. Keys are counted when some were purged.
pub(super) fn revalidate(answer: &RevalidateAnswer) -> String {
    let (mode, what) = match answer.mode {
        PurgeMode::Soft => ("soft", "marked stale"),
        PurgeMode::Hard => ("hard", "deleted"),
    };
    let purged = &answer.purged;
    let mut counts = vec![
        plural(purged.paths, "path"),
        plural(purged.tags, "tag"),
        plural(purged.prefixes, "prefix"),
    ];
    if purged.keys > 0 {
        counts.push(plural(purged.keys, "key"));
    }
    let mut out = format!("purged ({mode}, {what}): {}\n", counts.join(", "));
    for path in &answer.regenerating {
        let _ = writeln!(out, "regenerating {path}");
    }
    for skipped in &answer.skipped {
        let _ = writeln!(out, "skipped {}: {}", skipped.path, skipped.reason);
    }
    out
}

fn plural(n: usize, noun: &str) -> String {
    match (n, noun) {
        (1, _) => format!("1 {noun}"),
        (_, "prefix") => format!("{n} prefixes"),
        _ => format!("{n} {noun}s"),
    }
}

/// The stats, one line per subject.
pub(super) fn stats(stats: &StatsAnswer) -> String {
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
    let entries = tiers([
        stats.entries.memory.map(|n| format!("{n} in memory")),
        stats.entries.disk.map(|n| format!("{n} on disk")),
    ]);
    let b = &stats.bytes;
    let memory_bytes = b
        .memory
        .map(|bytes| format!("{}{} in memory", human_bytes(bytes), of(b.memory_capacity)));
    let disk_bytes = b.disk.map(|stored| {
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
            "{}{} on disk{details}",
            human_bytes(stored),
            of(b.disk_capacity)
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
        "entries:        {entries}\n\
         bytes:          {}\n\
         requests:       {} hit, {} stale, {} miss, {} bypass{hit_ratio}\n\
         renders:        {} ({} coalesced requests waited on another's render{elsewhere})\n\
         regenerations:  {} ok, {} failed\n\
         purge records:  {}\n{cluster}",
        tiers([memory_bytes, disk_bytes]),
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

/// The figures of the tiers the server reported, or that it reported none.
fn tiers<const N: usize>(figures: [Option<String>; N]) -> String {
    let figures: Vec<String> = figures.into_iter().flatten().collect();
    if figures.is_empty() {
        "not reported".to_owned()
    } else {
        figures.join(", ")
    }
}

/// ` of 256.0 MiB` for a budget; nothing when there is none.
fn of(capacity: Option<u64>) -> String {
    capacity
        .filter(|&capacity| capacity > 0)
        .map(|capacity| format!(" of {}", human_bytes(capacity)))
        .unwrap_or_default()
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
    match UNITS.get(unit) {
        Some(name) if unit > 0 => format!("{value:.1} {name}"),
        _ => format!("{n} B"),
    }
}

/// The codings an entry holds besides identity, or `-`.
fn codings(codings: &[String]) -> String {
    if codings.is_empty() {
        "-".to_owned()
    } else {
        codings.join(",")
    }
}

/// A table of the entries, then how many there are.
pub(super) fn entries(entries: &[EntryInfo]) -> String {
    const HEADER: [&str; 9] = [
        "STATE",
        "STATUS",
        "AGE",
        "REVALIDATE",
        "EXPIRE",
        "SIZE",
        "CODINGS",
        "PATH",
        "TAGS",
    ];
    let rows: Vec<[String; 9]> = entries
        .iter()
        .map(|e| {
            [
                e.state.to_string(),
                e.status.to_string(),
                human_secs(Some(e.age)),
                human_secs(e.revalidate),
                human_secs(e.expire),
                human_bytes(e.size as u64),
                codings(&e.codings),
                e.path.clone(),
                e.tags.join(","),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = HEADER.map(str::to_owned);
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        let last = row.len() - 1;
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i == last {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let _ = match entries.len() {
        1 => writeln!(out, "1 entry"),
        n => writeln!(out, "{n} entries"),
    };
    out
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

/// The answer of `isr build show` / `isr build switch` (`switching`: a switch was asked).
pub(super) fn build(answer: &BuildAnswer, switching: bool) -> String {
    let current = if answer.current.is_empty() {
        "(none: the empty build id)"
    } else {
        &answer.current
    };
    let mut out = match (switching, answer.switched) {
        (true, true) => format!("switched to build {current}\n"),
        (true, false) => format!("already serving build {current}\n"),
        (false, _) => format!("serving build {current}\n"),
    };
    if !answer.retired.is_empty() {
        let retired: Vec<&str> = answer
            .retired
            .iter()
            .map(|id| {
                if id.is_empty() {
                    "(empty)"
                } else {
                    id.as_str()
                }
            })
            .collect();
        out.push_str(&format!("replaced, newest first: {}\n", retired.join(", ")));
    }
    out
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
            revalidate(&answer),
            "purged (soft, marked stale): 1 path, 2 tags, 1 prefix\n\
             regenerating /blog/a\n\
             skipped /x: not cached\n"
        );
        let answer: RevalidateAnswer = serde_json::from_str(
            r#"{"mode":"hard","purged":{"paths":0,"tags":0,"prefixes":0,"keys":2}}"#,
        )
        .unwrap();
        assert_eq!(
            revalidate(&answer),
            "purged (hard, deleted): 0 paths, 0 tags, 0 prefixes, 2 keys\n"
        );
    }

    #[test]
    fn stats_summary_of_a_cluster_node() {
        let stats: StatsAnswer = serde_json::from_str(
            r#"{"entries":{"memory":3,"disk":null},"bytes":{"memory":2048,"memory_capacity":4096,"disk":null},"renders":4,"rendered_elsewhere":2,"cluster":{"backend":"redis","address":"redis://***@h:6379","up":false,"errors":3,"transitions":1,"events_received":9}}"#,
        )
        .unwrap();
        let text = super::stats(&stats);
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
        let stats: StatsAnswer = serde_json::from_str(
            r#"{"entries":{"memory":3,"disk":5},"bytes":{"memory":2048,"memory_capacity":268435456,"disk":1572864,"disk_capacity":10737418240,"disk_file":3145728},"evicted":{"disk":12},"requests":{"hit":6,"stale":2,"miss":2,"bypass":1},"renders":4,"coalesced":1,"regenerations":{"ok":2,"failed":0},"purge_records":7,"new_field":1}"#,
        )
        .unwrap();
        let text = super::stats(&stats);
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
        // Fields the server does not send read as zero, or are left out.
        let text = super::stats(&serde_json::from_str("{}").unwrap());
        assert!(text.contains("0 hit"), "{text}");
        assert!(text.contains("entries:        not reported\n"), "{text}");
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
}
