//! `[[route]]` tables: paths, modes, lifetimes, tags, query keys and conflicts.

use super::*;

#[test]
fn route_revalidate_modes() {
    let config = parse(
        "[[route]]\npath = \"/a\"\n[[route]]\npath = \"/b\"\nrevalidate = \"0s\"\nquery = [\"q\"]\n",
    );
    assert_eq!(
        route_at(&config, "/a").mode,
        RouteMode::Cache(RouteCachePolicy::default())
    );
    assert_eq!(route_at(&config, "/a").query, QueryKeys::Only(vec![]));
    assert_eq!(route_at(&config, "/b").mode, RouteMode::PassThrough);
    assert_eq!(
        route_at(&config, "/b").query,
        QueryKeys::Only(vec!["q".to_owned()])
    );
    assert_error(
        "[[route]]\npath = \"/a\"\nrevalidate = -1",
        3,
        &["`route.revalidate`", "negative"],
    );
    assert_error(
        "[[route]]\npath = \"/a\"\nrevalidate = true",
        3,
        &["`route.revalidate`"],
    );
}

#[test]
fn pass_through_routes_refuse_cache_settings() {
    for (key, value) in [
        ("expire", "60"),
        ("stale_if_error", "60"),
        ("tags", "[\"t\"]"),
    ] {
        assert_error(
            &format!("[[route]]\npath = \"/a\"\nrevalidate = 0\n{key} = {value}\n"),
            4,
            &[&format!("`route.{key}`"), "revalidate = 0"],
        );
    }
}

#[test]
fn route_expire() {
    assert_error(
        "[[route]]\npath = \"/a\"\nrevalidate = 60\nexpire = 59",
        4,
        &["`route.expire`", "at least revalidate"],
    );
    assert_error(
        "[[route]]\npath = \"/a\"\nrevalidate = false\nexpire = 60",
        4,
        &["`route.expire`", "revalidate = false"],
    );
    assert_error(
        "[[route]]\npath = \"/a\"\nexpire = false",
        3,
        &["`route.expire`"],
    );
    assert_error(
        "[[route]]\npath = \"/a\"\nexpire = 0",
        3,
        &["`route.expire`", "greater than 0"],
    );
    let config = parse("[[route]]\npath = \"/a\"\nexpire = 5\nstale_if_error = 0");
    assert_eq!(
        route_at(&config, "/a").mode,
        RouteMode::Cache(RouteCachePolicy {
            revalidate: None,
            expire: Some(5),
            stale_if_error: Some(0)
        })
    );
}

#[test]
fn route_paths() {
    assert_error(
        "[[route]]\nrevalidate = 1\n",
        1,
        &["`route.path` is required"],
    );
    assert_error(
        "[[route]]\npath = \"blog\"\n",
        2,
        &["`route.path`", "must start with '/'"],
    );
    assert_error(
        "[[route]]\npath = \"/[...a]/b\"\n",
        2,
        &["`route.path`", "last segment"],
    );
    assert_error("[[route]]\npath = 1\n", 2, &["`route.path`", "string"]);
    assert_error("route = [1]\n", 1, &["`route`", "[[route]]"]);
    assert_error("[route]\npath = \"/\"\n", 1, &["`route`", "array"]);
}

#[test]
fn route_conflicts_point_at_the_second_route_and_name_the_first() {
    let error = assert_error(
        "[[route]]\npath = \"/blog/:a\"\n\n[[route]]\npath = \"/other\"\n[[route]]\n  path = \"/blog/[b]\"\n",
        7,
        &["\"/blog/[b]\"", "\"/blog/:a\"", "line 2"],
    );
    assert_eq!(error.column, 10);
}

#[test]
fn route_tags() {
    assert_error(
        "[[route]]\npath = \"/a/[id]\"\ntags = [\"x:{slug}\"]",
        3,
        &["`route.tags`", "{slug}", "parameters: id"],
    );
    assert_error(
        "[[route]]\npath = \"/a\"\ntags = [\"x:{id}\"]",
        3,
        &["`route.tags`", "parameters: none"],
    );
    assert_error(
        "[[route]]\npath = \"/a/:id\"\ntags = [\n  \"ok\",\n  \"x:{id\",\n]",
        5,
        &["`route.tags`", "unclosed"],
    );
    assert_error(
        "[[route]]\npath = \"/a\"\ntags = [\"x}\"]",
        3,
        &["unmatched"],
    );
    assert_error("[[route]]\npath = \"/a\"\ntags = [\"\"]", 3, &["empty"]);
    assert_error(
        "[[route]]\npath = \"/a\"\ntags = \"x\"",
        3,
        &["`route.tags`", "array"],
    );
    assert_error(
        "[[route]]\npath = \"/a\"\ntags = [1]",
        3,
        &["`route.tags`", "string"],
    );
    let config = parse("[[route]]\npath = \"/u/:user/[[...rest]]\"\ntags = [\"{user}-{rest}\"]");
    let matched = config.routes.at("/u/ann").expect("matches");
    assert_eq!(matched.value.tags[0].render(&matched.params), "ann-");
}

#[test]
fn route_query() {
    assert_error(
        "[[route]]\npath = \"/a\"\nquery = [\"\"]",
        3,
        &["`route.query`"],
    );
    assert_error(
        "[[route]]\npath = \"/a\"\nquery = [\"a=b\"]",
        3,
        &["`route.query`"],
    );
    assert_error(
        "[[route]]\npath = \"/a\"\nquery = \"page\"",
        3,
        &["`route.query`", "array"],
    );
}
