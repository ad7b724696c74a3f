//! Option values and secrets: the [`ConfigResolver`] the executor hands to
//! connectors, and redaction.
//!
//! `env("X")` reads the environment (after the active `aqueduct.yaml`
//! profile, which wins); `secret("X")` reads the environment variable `X`,
//! else the file `X` in the secrets directory (`AQUEDUCT_SECRETS_DIR`,
//! default `.aqueduct/secrets`). Every secret value resolved is remembered
//! so [`redact`] can blank it out of any text that leaves the process
//! (logs, errors, replies, dead letters, metrics labels).

use crate::connector::{ConfigResolver, ConnectorError};
use aqueduct_graph::{ConfigValue, System, Value as Lit};
use std::collections::BTreeMap;
use std::path::PathBuf;

mod redaction;

use redaction::remember;
pub use redaction::{excerpt, redact, remember_derived};

/// A secret value: prints as `***` in `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value (and registers it for [`redact`]).
    pub fn new(value: String) -> Secret {
        remember(&value);
        Secret(value)
    }

    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Resolves options from the environment and the secrets directory.
#[derive(Debug, Clone, Default)]
pub struct EnvConfig {
    /// Variables of the active profile; they win over the process environment.
    pub overrides: BTreeMap<String, String>,
    /// Where secret files are; `None` reads `AQUEDUCT_SECRETS_DIR`, else `.aqueduct/secrets`.
    pub secrets_dir: Option<PathBuf>,
}

impl EnvConfig {
    /// A resolver over the process environment.
    pub fn new() -> EnvConfig {
        EnvConfig::default()
    }

    fn var(&self, name: &str) -> Option<String> {
        self.overrides
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    }

    fn secrets_dir(&self) -> PathBuf {
        self.secrets_dir.clone().unwrap_or_else(|| {
            std::env::var_os("AQUEDUCT_SECRETS_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".aqueduct/secrets"))
        })
    }

    /// Reads secret `name` (environment first, then the secrets directory).
    pub fn secret(&self, name: &str) -> Option<Secret> {
        if let Some(v) = self.var(name) {
            return Some(Secret::new(v));
        }
        let path = self.secrets_dir().join(name);
        let text = std::fs::read_to_string(path).ok()?;
        Some(Secret::new(text.trim_end_matches(['\n', '\r']).to_string()))
    }

    /// Resolves one option value to text; `where_` names it in errors.
    pub fn resolve(
        &self,
        value: &ConfigValue,
        where_: &str,
    ) -> Result<Option<String>, ConnectorError> {
        match value {
            ConfigValue::Literal(lit) => Ok(literal_text(lit)),
            ConfigValue::Enum(s) => Ok(Some(s.clone())),
            ConfigValue::Env { name, default } => {
                match self.var(name).or_else(|| default.clone()) {
                    Some(v) => Ok(Some(v)),
                    None => Err(ConnectorError::Config(format!(
                        "{where_}: environment variable `{name}` is not set (set it, or give env(\"{name}\", \"default\"))"
                    ))),
                }
            }
            ConfigValue::Secret { name } => match self.secret(name) {
                Some(s) => Ok(Some(s.expose().to_string())),
                None => Err(ConnectorError::Config(format!(
                    "{where_}: secret `{name}` is not set (set the environment variable `{name}` or write it to {})",
                    self.secrets_dir().join(name).display()
                ))),
            },
            ConfigValue::List(items) => {
                let parts = items
                    .iter()
                    .map(|i| self.resolve(i, where_))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Some(
                    parts.into_iter().flatten().collect::<Vec<_>>().join(","),
                ))
            }
            ConfigValue::Block { kind, .. } => Ok(kind.clone()),
        }
    }
}

fn literal_text(lit: &Lit) -> Option<String> {
    Some(match lit {
        Lit::Null => return None,
        Lit::Bool(b) => b.to_string(),
        Lit::Int(i) => i.to_string(),
        Lit::Float(f) => f.to_string(),
        Lit::Duration(ms) => ms.to_string(),
        Lit::Decimal(s) | Lit::String(s) | Lit::Timestamp(s) | Lit::Date(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    })
}

/// Finds option `path` (`auth.client_id` reads into nested blocks).
fn lookup<'a>(system: &'a System, path: &str) -> Option<&'a ConfigValue> {
    let mut parts = path.split('.');
    let mut value = system.option(parts.next()?)?;
    for part in parts {
        value = value.block_option(part)?;
    }
    Some(value)
}

impl ConfigResolver for EnvConfig {
    fn string(&self, system: &System, option: &str) -> Result<Option<String>, ConnectorError> {
        match lookup(system, option) {
            None => Ok(None),
            Some(value) => self.resolve(
                value,
                &format!("option `{option}` of system `{}`", system.name),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system(options: Vec<(&str, ConfigValue)>) -> System {
        System {
            name: "crm".into(),
            kind: "http".into(),
            options: options
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect(),
            doc: vec![],
            origin: Default::default(),
        }
    }

    #[test]
    fn resolves_env_secrets_and_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("API_TOKEN_T1"), "tok-file-value\n").expect("write");
        let mut cfg = EnvConfig {
            secrets_dir: Some(dir.path().to_path_buf()),
            ..EnvConfig::default()
        };
        cfg.overrides.insert("BASE_T1".into(), "http://x".into());
        let sys = system(vec![
            (
                "base_url",
                ConfigValue::Env {
                    name: "BASE_T1".into(),
                    default: None,
                },
            ),
            ("port", ConfigValue::Literal(Lit::Int(8080))),
            (
                "auth",
                ConfigValue::Block {
                    kind: Some("bearer".into()),
                    options: vec![(
                        "token".into(),
                        ConfigValue::Secret {
                            name: "API_TOKEN_T1".into(),
                        },
                    )],
                },
            ),
            (
                "missing",
                ConfigValue::Env {
                    name: "AQ_SURELY_UNSET_T1".into(),
                    default: None,
                },
            ),
        ]);
        assert_eq!(
            cfg.string(&sys, "base_url").expect("env"),
            Some("http://x".into())
        );
        assert_eq!(cfg.string(&sys, "port").expect("lit"), Some("8080".into()));
        assert_eq!(
            cfg.string(&sys, "auth").expect("block"),
            Some("bearer".into())
        );
        assert_eq!(
            cfg.string(&sys, "auth.token").expect("secret"),
            Some("tok-file-value".into())
        );
        assert_eq!(cfg.string(&sys, "nope").expect("absent"), None);
        let e = cfg.string(&sys, "missing").expect_err("unset");
        assert!(
            e.to_string().contains("`AQ_SURELY_UNSET_T1` is not set"),
            "{e}"
        );
        assert_eq!(redact("Bearer tok-file-value failed"), "Bearer *** failed");
        assert_eq!(format!("{:?}", Secret::new("hunter22".into())), "***");
    }
}
