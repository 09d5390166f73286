//! The value parsers and checks shared by every source: what each accepts and refuses.

use super::*;
use crate::config::value::read_build_id_file;

#[test]
fn byte_sizes() {
    for (text, bytes) in [
        ("0", 0),
        ("17", 17),
        ("17B", 17),
        ("64k", 64_000),
        ("64K", 64_000),
        ("64KB", 64_000),
        ("64KiB", 65_536),
        ("3M", 3_000_000),
        ("3MB", 3_000_000),
        ("256MiB", 268_435_456),
        ("1G", 1_000_000_000),
        ("1GB", 1_000_000_000),
        ("2GiB", 2_147_483_648),
        (" 5 MiB ", 5 * 1_048_576),
        ("18446744073709551615", u64::MAX),
    ] {
        assert_eq!(parse_bytes(text).ok(), Some(bytes), "{text:?}");
    }
    for bad in [
        "",
        "MiB",
        "-1",
        "1.5MiB",
        "1mib",
        "1 2",
        "18446744073709551616",
        "17179869184GiB",
    ] {
        assert!(parse_bytes(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn durations() {
    for (text, ms) in [
        ("0", 0),
        ("60", 60_000),
        ("250ms", 250),
        ("5s", 5_000),
        ("2m", 120_000),
        ("1h", 3_600_000),
        ("7d", 604_800_000),
        ("10 s", 10_000),
        ("36500d", MAX_DURATION_SECS * 1000),
    ] {
        assert_eq!(parse_duration_ms(text).ok(), Some(ms), "{text:?}");
    }
    for bad in [
        "",
        "s",
        "-1s",
        "1.5s",
        "1w",
        "1S",
        "5 m s",
        "18446744073709551615s",
        "99999999999999999999",
        "36501d",
    ] {
        assert!(parse_duration_ms(bad).is_err(), "{bad:?} should be refused");
    }
    assert_eq!(parse_duration_secs("2m").ok(), Some(120));
    assert!(parse_duration_secs("2500ms").is_err());
    assert_eq!(parse_revalidate("false").ok(), Some(Revalidate::Never));
    assert_eq!(parse_revalidate("1h").ok(), Some(Revalidate::After(3_600)));
    assert!(parse_revalidate("0").is_err());
    assert_eq!(parse_expire("false").ok(), Some(None));
    assert_eq!(parse_expire("30").ok(), Some(Some(30)));
    assert!(parse_expire("0").is_err());
    assert!(matches!(
        check_duration_secs(MAX_DURATION_SECS + 1),
        Err(ValueError::TooLong)
    ));
}

#[test]
fn counts() {
    assert_eq!(check_concurrency(1).ok(), Some(1));
    assert_eq!(check_concurrency(65_536).ok(), Some(MAX_CONCURRENCY));
    for bad in [0, 65_537, u64::MAX] {
        assert!(check_concurrency(bad).is_err(), "{bad}");
    }
    assert_eq!(check_threads(1024).ok(), Some(1024));
    assert!(check_threads(0).is_err());
    assert!(check_threads(u64::MAX).is_err());
}

#[test]
fn token_checks() {
    assert_eq!(
        check_token("abcdefghijklmnop").ok().as_deref(),
        Some("abcdefghijklmnop")
    );
    assert!(check_token("abcdefghijklmno").is_err(), "15 characters");
    assert!(check_token("abcdefgh\tijklmnop").is_err());
    assert!(check_token("abcdefgh\u{7f}ijklmnop").is_err());
    assert!(check_token("").is_err());
}

#[test]
fn redacted_urls_hide_credentials() {
    assert_eq!(redact_url("redis://u:p@h:1/0"), "redis://***@h:1/0");
    assert_eq!(redact_url("redis://h:1"), "redis://h:1");
    assert_eq!(redact_url("rediss://:p@a@h"), "rediss://***@h");
}

#[test]
fn build_id_files() {
    assert_eq!(parse_build_id_file("x\r\n").ok().as_deref(), Some("x"));
    let read = |path: &str| -> Result<String, std::io::Error> {
        match path {
            "ok" => Ok(" id \n".to_owned()),
            _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        }
    };
    assert_eq!(read_build_id_file("ok", &read).ok().as_deref(), Some("id"));
    let error = read_build_id_file("nope", &read).expect_err("missing");
    assert!(error.to_string().contains("nope"), "{error}");
    let ValueError::BuildIdFileUnreadable { cause, .. } = error else {
        panic!("{error:?}")
    };
    assert!(
        cause.downcast_ref::<std::io::Error>().is_some(),
        "keeps its source"
    );
}
