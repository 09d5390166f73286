//! What the Worker is configured with.
//!
//! The configuration is isr-core's model, parsed from TOML: the `ISR_CONFIG` variable if
//! set, else the `isr.toml` embedded at build time. Secrets and per-deploy values come
//! from variables: `ISR_ORIGIN`, `ISR_ADMIN_TOKEN` and `ISR_BYPASS_TOKEN` are isr-core's
//! [`Overrides`] (layered over the file and checked as the native command line's flags
//! are); `ISR_RENDER_SECRET` and `ISR_PURGE_CACHE_MS` are the Worker's own.
//!
//! Invariants:
//! - A bad configuration is an error naming the variable (or file) and the problem, never
//!   a panic; it is parsed once per isolate, and again only if a variable changes.

use std::cell::RefCell;
use std::rc::Rc;

use isr_core::config::{
    Config, ConfigError, InvalidSetting, Overrides, Setting, ValueError, check_token,
};
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
    /// A variable's value cannot work.
    #[error("{name}: {problem}")]
    Variable {
        name: &'static str,
        #[source]
        problem: ValueError,
    },
    /// A setting of the file cannot work, with the variables layered over it.
    #[error("{file}: {invalid}")]
    Setting {
        file: &'static str,
        #[source]
        invalid: InvalidSetting,
    },
    #[error("ISR_PURGE_CACHE_MS: {0:?} is not a whole number of milliseconds")]
    PurgeCacheMs(String),
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

/// The Worker variables that are isr-core [`Overrides`], by the setting each sets.
const OVERRIDING: [(Setting, &str); 3] = [
    (Setting::Origin, "ISR_ORIGIN"),
    (Setting::AdminToken, "ISR_ADMIN_TOKEN"),
    (Setting::BypassToken, "ISR_BYPASS_TOKEN"),
];

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
    let (text, file) = match config_text {
        Some(text) => (text.as_str(), "ISR_CONFIG"),
        None => (EMBEDDED_CONFIG, "isr.toml (embedded)"),
    };
    let config = Config::from_toml(text, file)?;
    let mut overrides = Overrides::default();
    overrides.origin = origin.clone();
    overrides.admin_token = admin_token.clone();
    overrides.bypass_token = bypass_token.clone();
    let config = overrides.clone().apply(config).map_err(|invalid| {
        let variable = OVERRIDING
            .iter()
            .find(|(setting, _)| *setting == invalid.setting && overrides.sets(*setting));
        match variable {
            Some(&(_, name)) => SettingsError::Variable {
                name,
                problem: invalid.problem,
            },
            None => SettingsError::Setting { file, invalid },
        }
    })?;
    let render_secret = render_secret
        .as_deref()
        .map(|secret| {
            check_token(secret).map_err(|problem| SettingsError::Variable {
                name: "ISR_RENDER_SECRET",
                problem,
            })
        })
        .transpose()?;
    let purge_cache_ms = match purge_cache_ms {
        Some(ms) => ms
            .trim()
            .parse()
            .map_err(|_| SettingsError::PurgeCacheMs(ms.clone()))?,
        None => DEFAULT_PURGE_CACHE_MS,
    };
    Ok(Settings {
        config,
        purge_cache_ms,
        render_secret,
    })
}
