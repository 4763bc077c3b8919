//! The configuration layers (defaults < file < environment), where each key's value came
//! from, and the `config` crate's messages turned into ones that name key and origin.
//! Must never check a value's meaning (that is `validate.rs`) nor touch the network.

use super::validate::validate;
use super::{
    ConfigError, ConnectionName, DEFAULT_CONFIG_FILE, DEFAULTS, ENV_PREFIX, ENV_SEPARATOR,
    Settings, StoreUrl,
};
use crate::connectors::hubspot::ApiVersion;
use std::path::{Path, PathBuf};

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("the built-in default"),
            Origin::File(p) => write!(f, "the file {}", p.display()),
            Origin::Env(v) => write!(f, "the environment variable {v}"),
        }
    }
}

/// Where the layers come from; tests pass their own environment.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The file to read; `None` reads nothing but defaults and environment.
    pub file: Option<PathBuf>,
    /// Environment variables (name, value); only `TETHER__…` ones are read.
    pub env: Vec<(String, String)>,
}

impl Sources {
    /// `--config PATH` when given (it must exist), else `tether.toml` when it exists, plus the
    /// process environment.
    pub fn from_process(explicit: Option<&Path>) -> Result<Self, ConfigError> {
        let file = match explicit {
            Some(p) => {
                if !p.is_file() {
                    return Err(ConfigError::FileUnreadable {
                        path: p.to_owned(),
                        reason: "no such file (given by --config)".into(),
                    });
                }
                Some(p.to_owned())
            }
            None => {
                let p = PathBuf::from(DEFAULT_CONFIG_FILE);
                p.is_file().then_some(p)
            }
        };
        Ok(Self {
            file,
            env: std::env::vars().collect(),
        })
    }

    fn env_var_for(key: &str) -> String {
        format!(
            "{ENV_PREFIX}{ENV_SEPARATOR}{}",
            key.replace('.', ENV_SEPARATOR).to_ascii_uppercase()
        )
    }

    /// Which layer a key's effective value came from.
    pub fn origin_of(&self, key: &str, file_table: Option<&toml::Table>) -> Origin {
        let var = Self::env_var_for(key);
        if self.env.iter().any(|(k, _)| k == &var) {
            return Origin::Env(var);
        }
        if let (Some(path), Some(table)) = (&self.file, file_table) {
            let mut node: Option<&toml::Value> = None;
            let mut cur = table;
            let parts: Vec<&str> = key.split('.').collect();
            for (i, part) in parts.iter().enumerate() {
                match cur.get(*part) {
                    Some(toml::Value::Table(t)) if i + 1 < parts.len() => cur = t,
                    Some(v) if i + 1 == parts.len() => node = Some(v),
                    _ => break,
                }
            }
            if node.is_some() {
                return Origin::File(path.clone());
            }
        }
        Origin::Default
    }
}

/// Loaded settings and where each came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub sources: Sources,
    file_table: Option<toml::Table>,
}

impl Loaded {
    pub fn origin_of(&self, key: &str) -> Origin {
        self.sources.origin_of(key, self.file_table.as_ref())
    }
}

/// Reads and checks the configuration from its layers.
pub fn load(sources: Sources) -> Result<Loaded, ConfigError> {
    use config::{Config, Environment, File, FileFormat};

    let file_table = match &sources.file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::FileUnreadable {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::FileSyntax {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
            Some((text, table))
        }
        None => None,
    };

    let mut builder = Config::builder();
    for (k, v) in DEFAULTS {
        builder = builder
            .set_default(*k, *v)
            .map_err(|e| ConfigError::Other(e.to_string()))?;
    }
    if let Some((text, _)) = &file_table {
        builder = builder.add_source(File::from_str(text, FileFormat::Toml));
    }
    let env_map: config::Map<String, String> = sources
        .env
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}{ENV_SEPARATOR}")))
        .cloned()
        .collect();
    builder = builder.add_source(
        Environment::with_prefix(ENV_PREFIX)
            .prefix_separator(ENV_SEPARATOR)
            .separator(ENV_SEPARATOR)
            .source(Some(env_map)),
    );
    let table = file_table.map(|(_, t)| t);
    let cfg = builder
        .build()
        .map_err(|e| ConfigError::Other(e.to_string()))?;

    let mut settings: Settings = cfg
        .try_deserialize()
        .map_err(|e| describe_deserialize_error(&e.to_string(), &sources, table.as_ref()))?;
    // A PostgreSQL store works in the schema of this process's connection.
    if let StoreUrl::Postgres { connection, .. } = &mut settings.store.url {
        *connection = settings.connection.name.clone();
    }
    let loaded = Loaded {
        settings,
        sources,
        file_table: table,
    };
    validate(&loaded)?;
    Ok(loaded)
}

/// Turns the `config` crate's message into one that names the key and its origin.
fn describe_deserialize_error(
    msg: &str,
    sources: &Sources,
    table: Option<&toml::Table>,
) -> ConfigError {
    // The crate says "<problem> for key `section.key`"; for an unknown key the problem is
    // "unknown field `x`, expected `a` or `b`" and the key is the enclosing section.
    let between = |s: &str, open: &str| {
        s.split(open)
            .nth(1)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    let context = between(msg, "for key `");
    let problem = msg.split(" for key").next().unwrap_or(msg).to_owned();
    if let Some(field) = between(msg, "unknown field `") {
        let key = match context {
            Some(section) if !section.is_empty() => format!("{section}.{field}"),
            _ => field,
        };
        let expected = problem
            .split(", expected ")
            .nth(1)
            .map(|keys| format!("one of {keys} (see README.md, Configuration)"))
            .unwrap_or_else(|| "one of the keys listed in README.md (Configuration)".into());
        return ConfigError::Key {
            origin: sources.origin_of(&key, table),
            key,
            problem: "unknown key".into(),
            expected,
        };
    }
    match context {
        Some(key) => ConfigError::Key {
            origin: sources.origin_of(&key, table),
            expected: expected_for(&key),
            key,
            problem,
        },
        None => ConfigError::Other(msg.to_owned()),
    }
}

/// What a key expects, for the keys whose text is parsed into a typed value.
const EXPECTED: &[(&str, &str)] = &[
    ("hubspot.base_url", "an http:// or https:// URL"),
    (
        "store.url",
        "sqlite://PATH, sqlite::memory: or postgres://USER:PASSWORD@HOST:PORT/DATABASE",
    ),
    ("connection.name", ConnectionName::EXPECTED),
    (
        "schedule.cron",
        "six or seven fields: sec min hour day-of-month month day-of-week [year], e.g. \"0 */5 * * * *\"",
    ),
    ("server.listen", "IP:PORT such as 127.0.0.1:8080"),
    (
        "sync.default_region",
        "an ISO 3166 alpha-2 code such as US, GB or FR",
    ),
];

fn expected_for(key: &str) -> String {
    if key == "hubspot.api_version" {
        return ApiVersion::NAMES.into();
    }
    if let Some((_, e)) = EXPECTED.iter().find(|(k, _)| *k == key) {
        return (*e).into();
    }
    let numeric = DEFAULTS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.parse::<f64>().is_ok())
        .unwrap_or(false);
    let boolean = DEFAULTS
        .iter()
        .any(|(k, v)| *k == key && (*v == "true" || *v == "false"));
    if boolean {
        "true or false".into()
    } else if numeric {
        "a number".into()
    } else {
        "a string".into()
    }
}
