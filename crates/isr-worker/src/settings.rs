//! What the Worker is configured with.
//!
//! The configuration is isr-core's model, parsed from TOML: the `ISR_CONFIG` variable if
//! set, else the `isr.toml` embedded at build time. Secrets and per-deploy values come
//! from variables: `ISR_ORIGIN` (overrides `origin`), `ISR_ADMIN_TOKEN`,
//! `ISR_BYPASS_TOKEN`, `ISR_RENDER_SECRET`, `ISR_PURGE_CACHE_MS`.
//!
//! Invariants:
//! - A bad configuration is an error naming the variable (or file) and the problem, never
//!   a panic; it is parsed once per isolate, and again only if a variable changes.

use std::cell::RefCell;
use std::rc::Rc;

use isr_core::config::{Config, ConfigError, check_token};
use worker::Env;

/// The configuration built into the Worker (used when `ISR_CONFIG` is not set).
const EMBEDDED_CONFIG: &str = include_str!("../isr.toml");

/// Default of `ISR_PURGE_CACHE_MS`.
const DEFAULT_PURGE_CACHE_MS: u64 = 1_000;

/// Why the Worker cannot start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{name}: {message}")]
    Variable { name: &'static str, message: String },
    #[error(
        "no origin: set `origin` in the config, the ISR_ORIGIN variable, or a service binding ORIGIN"
    )]
    NoOrigin,
}

/// Everything the Worker is configured with.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) config: Config,
    /// How long the isolate may use its copy of the purge records.
    pub(crate) purge_cache_ms: u64,
    /// The recursion-guard secret, when set as `ISR_RENDER_SECRET`.
    pub(crate) render_secret: Option<String>,
}

/// The variables the settings are built from, in a fixed order (to notice a change).
const VARIABLES: [&str; 6] = [
    "ISR_CONFIG",
    "ISR_ORIGIN",
    "ISR_ADMIN_TOKEN",
    "ISR_BYPASS_TOKEN",
    "ISR_RENDER_SECRET",
    "ISR_PURGE_CACHE_MS",
];

type Inputs = [Option<String>; 6];

thread_local! {
    /// The settings this isolate parsed last, and the variables it parsed them from.
    static PARSED: RefCell<Option<(Inputs, Rc<Settings>)>> = const { RefCell::new(None) };
}

/// A text variable or secret, if set.
pub(crate) fn variable(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string())
}

/// The settings for `env`, parsed at most once per isolate and set of variables.
pub(crate) fn load(env: &Env) -> Result<Rc<Settings>, SettingsError> {
    let inputs: Inputs = VARIABLES.map(|name| variable(env, name));
    let cached = PARSED.with_borrow(|parsed| {
        parsed
            .as_ref()
            .filter(|(seen, _)| *seen == inputs)
            .map(|(_, settings)| Rc::clone(settings))
    });
    if let Some(settings) = cached {
        return Ok(settings);
    }
    let settings = Rc::new(parse(&inputs)?);
    PARSED.set(Some((inputs, Rc::clone(&settings))));
    Ok(settings)
}

fn parse(inputs: &Inputs) -> Result<Settings, SettingsError> {
    let [
        config_text,
        origin,
        admin_token,
        bypass_token,
        render_secret,
        purge_cache_ms,
    ] = inputs;
    let mut config = match config_text {
        Some(text) => Config::from_toml(text, "ISR_CONFIG")?,
        None => Config::from_toml(EMBEDDED_CONFIG, "isr.toml (embedded)")?,
    };
    if let Some(origin) = origin {
        config.origin = Some(isr_core::config::parse_origin(origin).map_err(|error| {
            SettingsError::Variable {
                name: "ISR_ORIGIN",
                message: error.to_string(),
            }
        })?);
    }
    let token = |name: &'static str, value: &Option<String>| {
        value
            .as_deref()
            .map(|v| {
                check_token(v).map_err(|error| SettingsError::Variable {
                    name,
                    message: error.to_string(),
                })
            })
            .transpose()
    };
    if let Some(admin) = token("ISR_ADMIN_TOKEN", admin_token)? {
        config.admin_token = Some(admin);
    }
    if let Some(bypass) = token("ISR_BYPASS_TOKEN", bypass_token)? {
        config.bypass_token = Some(bypass);
    }
    let render_secret = token("ISR_RENDER_SECRET", render_secret)?;
    let purge_cache_ms = match purge_cache_ms {
        Some(ms) => ms.trim().parse().map_err(|_| SettingsError::Variable {
            name: "ISR_PURGE_CACHE_MS",
            message: format!("{ms:?} is not a whole number of milliseconds"),
        })?,
        None => DEFAULT_PURGE_CACHE_MS,
    };
    config
        .validate()
        .map_err(|invalid| SettingsError::Variable {
            name: "ISR_CONFIG",
            message: invalid.to_string(),
        })?;
    Ok(Settings {
        config,
        purge_cache_ms,
        render_secret,
    })
}
