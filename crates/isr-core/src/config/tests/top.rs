//! Top-level keys: origin, listen, the cache directory and budgets, threads, the key
//! parts, secrets, and the `[redis]` table.

use super::*;

#[test]
fn origin() {
    assert_eq!(
        parse("origin = \"https://app.internal:8443\"")
            .origin
            .as_deref(),
        Some("https://app.internal:8443")
    );
    for (bad, why) in [
        ("ftp://x", "not http or https"),
        ("127.0.0.1:3000", "invalid origin"),
        ("http://x/app", "path is not allowed"),
        ("http://x/?a=1", "query is not allowed"),
        ("http://x/#top", "fragment"),
        ("http://user:pw@x", "credentials"),
        ("", "invalid origin"),
    ] {
        assert_error(&format!("\n\norigin = {bad:?}\n"), 3, &["`origin`", why]);
    }
    assert_error(
        "origin = 3000\n",
        1,
        &["`origin`", "expected a string, found an integer"],
    );
}

#[test]
fn listen() {
    assert_eq!(parse("listen = \"[::1]:80\"").listen, "[::1]:80");
    assert_error("\nlisten = \"localhost:80\"", 2, &["`listen`", "IP:PORT"]);
    assert_error("listen = 8080", 1, &["`listen`", "string"]);
}

#[test]
fn redis_section() {
    let config = parse(
        "[redis]\nurl = \"redis://:pw@127.0.0.1:6379/2\"\nprefix = \"shop\"\nlock_ttl = \"5s\"\ntimeout = \"100ms\"\nmax_ttl = \"1d\"\ncluster = true\n",
    );
    let redis = config.redis.unwrap();
    assert_eq!(redis.prefix, "shop");
    assert_eq!(redis.lock_ttl_ms, 5_000);
    assert!(redis.cluster);
    assert_eq!(redis.timeout_ms, 100);
    assert_eq!(redis.max_ttl_secs, 86_400);
    assert!(
        !format!("{redis:?}").contains("pw"),
        "the password is never printed"
    );
    assert!(parse("").redis.is_none());
    assert_error("[redis]\nprefix = \"a\"", 1, &["`redis`", "url"]);
    assert_error(
        "[redis]\nurl = \"http://x\"",
        2,
        &["`redis.url`", "redis://"],
    );
    assert_error("[redis]\nurl = \"redis://:secret@\"", 2, &["host"]);
    assert_error(
        "[redis]\nurl = \"redis://h\"\nprefix = \"a{b}\"",
        3,
        &["prefix"],
    );
    assert_error("[redis]\nurl = \"redis://h\"\nbogus = 1", 3, &["bogus"]);
}

#[test]
fn strings_and_flags() {
    assert_error("cache_dir = \"\"", 1, &["`cache_dir`", "empty"]);
    assert_error("site = true", 1, &["`site`", "string"]);
    assert_error("build_id = 1", 1, &["`build_id`", "string"]);
    assert_error("key_host = \"yes\"", 1, &["`key_host`", "true or false"]);
}

#[test]
fn forward_headers_are_lower_cased_names_isr_does_not_set_itself() {
    let config = parse("forward_headers = [\"X-Api-Version\", \"req-num\"]");
    assert_eq!(config.forward_headers, ["x-api-version", "req-num"]);
    assert!(parse("").forward_headers.is_empty());
    assert_error(
        "forward_headers = \"x-a\"",
        1,
        &["`forward_headers`", "array"],
    );
    for reserved in [
        "Host",
        "x-isr-render",
        "X-Forwarded-Host",
        "forwarded",
        "bad name",
    ] {
        let source = format!("forward_headers = [\"{reserved}\"]");
        assert_error(&source, 1, &["may forward"]);
    }
}

#[test]
fn secrets_and_bypass() {
    let config = parse(
        "admin_token = \"0123456789abcdef\"\nbypass_token = \"preview-secret-0123\"\nbypass_nextjs_preview = true\n",
    );
    assert_eq!(config.admin_token.as_deref(), Some("0123456789abcdef"));
    assert_eq!(config.bypass_token.as_deref(), Some("preview-secret-0123"));
    assert!(config.bypass_nextjs_preview);
    let config = parse("# nothing");
    assert_eq!((config.admin_token, config.bypass_token), (None, None));
    assert!(!config.bypass_nextjs_preview);
    for key in ["admin_token", "bypass_token"] {
        let name = format!("`{key}`");
        for (value, why) in [
            ("\"short-secret\"", "too short"),
            ("\"\"", "empty"),
            ("\"0123456789 abcdef\"", "no spaces"),
            ("\"0123456789abcdef\\n\"", "control"),
            ("\"0123456789abcdéf\"", "non-ASCII"),
            ("12345678901234567", "string"),
        ] {
            let error = assert_error(&format!("\n{key} = {value}\n"), 2, &[&name, why]);
            assert!(
                !error.message.contains("short-secret") && !error.message.contains("0123456789"),
                "the secret is quoted: {error}"
            );
        }
    }
    assert_error(
        "bypass_nextjs_preview = \"yes\"",
        1,
        &["`bypass_nextjs_preview`", "true or false"],
    );
}

#[test]
fn build_id_file() {
    let read = |path: &str| -> Result<String, String> {
        match path {
            ".next/BUILD_ID" => Ok("  abc123\n".to_owned()),
            "empty" => Ok(" \n".to_owned()),
            "binary" => Ok("a\u{0}b".to_owned()),
            _ => Err("No such file or directory (os error 2)".to_owned()),
        }
    };
    let parse_reading = |source: &str| Config::from_toml_reading(source, "isr.toml", &read);
    let config = parse_reading("build_id_file = \".next/BUILD_ID\"").expect("reads");
    assert_eq!(config.build_id, "abc123");

    let error =
        parse_reading("site = \"x\"\nbuild_id_file = \"nope/BUILD_ID\"").expect_err("missing");
    assert_eq!((error.file.as_str(), error.line), ("isr.toml", 2));
    for needle in ["`build_id_file`", "nope/BUILD_ID", "No such file"] {
        assert!(error.message.contains(needle), "{error} lacks {needle}");
    }
    let error = parse_reading("build_id_file = \"empty\"").expect_err("empty");
    assert!(error.message.contains("empty"), "{error}");
    let error = parse_reading("build_id_file = \"binary\"").expect_err("control");
    assert!(error.message.contains("control"), "{error}");
    let error = parse_reading("build_id_file = \"\"").expect_err("no path");
    assert!(error.message.contains("empty"), "{error}");

    // Both: the error points at whichever comes second and names the other's line.
    let error =
        parse_reading("build_id = \"a\"\n\nbuild_id_file = \".next/BUILD_ID\"").expect_err("both");
    assert_eq!(error.line, 3, "{error}");
    assert!(error.message.contains("`build_id_file`"), "{error}");
    assert!(error.message.contains("`build_id` (line 1)"), "{error}");
    let error =
        parse_reading("build_id_file = \".next/BUILD_ID\"\nbuild_id = \"a\"").expect_err("both");
    assert_eq!(error.line, 2, "{error}");
    assert!(
        error.message.contains("`build_id_file` (line 1)"),
        "{error}"
    );

    // Without a reader, the key is refused rather than silently ignored.
    assert_error(
        "build_id_file = \".next/BUILD_ID\"",
        1,
        &["`build_id_file`", "not supported"],
    );
    assert_eq!(parse_build_id_file("x\r\n").ok().as_deref(), Some("x"));
}

#[test]
fn threads() {
    assert_eq!(parse("threads = 1").threads, Some(1));
    assert_eq!(parse("").threads, None);
    assert_error("threads = 0", 1, &["`threads`", "between 1 and 1024"]);
    assert_error("threads = 40000", 1, &["`threads`", "between 1 and 1024"]);
    assert_error("threads = \"4\"", 1, &["`threads`", "whole number"]);
}

#[test]
fn disk() {
    assert_eq!(Config::default().disk_bytes, 10 * 1024 * 1024 * 1024);
    assert_eq!(parse("disk = \"500MB\"").disk_bytes, 500_000_000);
    assert_error("disk = 0", 1, &["`disk`", "greater than 0"]);
    assert_error("disk = \"12 parsecs\"", 1, &["`disk`", "unknown unit"]);
}

#[test]
fn memory() {
    assert_eq!(parse("memory = 1000").memory_bytes, 1000);
    assert_eq!(parse("memory = \"2GB\"").memory_bytes, 2_000_000_000);
    assert_error("memory = 0", 1, &["`memory`", "greater than 0"]);
    assert_error("memory = -5", 1, &["`memory`", "negative"]);
    assert_error("memory = 1.5", 1, &["`memory`", "float"]);
    assert_error("memory = \"12 parsecs\"", 1, &["`memory`", "unknown unit"]);
    assert_error("memory = \"99999999999TiB\"", 1, &["`memory`", "too large"]);
    assert_error(
        "memory = 99999999999999999999",
        1,
        &["`memory`", "too large"],
    );
}

#[test]
fn text_that_is_not_utf8_is_an_error_at_its_first_bad_byte() {
    let read = |_: &str| Err::<String, _>(std::io::Error::other("no files"));
    let error =
        Config::from_toml_bytes_reading(b"site = \"a\"\n# \xc3\xa9t\xe9\n", "x.toml", &read)
            .expect_err("not UTF-8");
    assert_eq!((error.line, error.column), (2, 5), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("x.toml:2:5: the file is not valid UTF-8 (byte 0xE9"),
        "{error}"
    );
    let fine = Config::from_toml_bytes_reading("site = \"café\"".as_bytes(), "x.toml", &read)
        .expect("UTF-8");
    assert_eq!(fine.site, "café");
}
