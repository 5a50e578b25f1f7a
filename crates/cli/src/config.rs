//! The settings of every command, from four places in this order: the command line, the
//! environment (`BANGFU_…`), the configuration file (`bangfu.toml`), the default. Each key of the
//! file is its environment variable's name without `BANGFU_`, in lower case; a key the file
//! should not have is refused by name, so a misspelt setting never goes unnoticed.

use anyhow::{Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_FILE: &str = "bangfu.toml";

/// Every setting a file may hold, by environment variable (the key is derived: `key`).
pub const SETTINGS: &[&str] = &[
    "BANGFU_DATABASE_URL",
    "BANGFU_ADDR",
    "BANGFU_DEMO",
    "BANGFU_METRICS_ADDR",
    "BANGFU_METRICS_ALLOW_REMOTE",
    "BANGFU_LOG",
    "BANGFU_LOG_FORMAT",
    "BANGFU_UPLOAD_MAX_BYTES",
    "BANGFU_SHEET_MAX_ROWS",
    "BANGFU_SHEET_MAX_COLUMNS",
    "BANGFU_XLSX_MAX_UNZIPPED_BYTES",
    "BANGFU_XLSX_MAX_SHARED_STRINGS_BYTES",
    "BANGFU_PARSE_SECONDS",
    "BANGFU_SESSION_IDLE_MINUTES",
    "BANGFU_SECURE_COOKIES",
    "BANGFU_ALLOWED_ORIGINS",
];

/// The file key of a setting: `BANGFU_METRICS_ADDR` → `metrics_addr`.
pub fn key(env: &str) -> String {
    env.trim_start_matches("BANGFU_").to_ascii_lowercase()
}

/// A value and where it was found, for messages about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub value: String,
    pub origin: String,
}

#[derive(Debug, Default)]
pub struct Config {
    file: Option<PathBuf>,
    /// The file's values by environment variable name.
    values: BTreeMap<&'static str, String>,
}

static CURRENT: OnceLock<Config> = OnceLock::new();

/// The configuration loaded by `main` (the environment alone before that).
pub fn current() -> &'static Config {
    CURRENT.get_or_init(Config::default)
}

/// Makes `config` the process's configuration; done once, before any command runs.
pub fn install(config: Config) -> &'static Config {
    let _ = CURRENT.set(config);
    current()
}

impl Config {
    /// Reads `explicit` (which must exist) or, without it, `./bangfu.toml` if there is one.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None if Path::new(DEFAULT_FILE).is_file() => PathBuf::from(DEFAULT_FILE),
            None => return Ok(Config::default()),
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("无法读取配置文件 {}：{e}", path.display()))?;
        Config::parse(&path, &text)
    }

    fn parse(path: &Path, text: &str) -> Result<Config> {
        let shown = path.display();
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("配置文件 {shown} 格式有误（应为 TOML）：{e}"))?;
        let mut values = BTreeMap::new();
        for (name, value) in table {
            let Some(env) = SETTINGS.iter().copied().find(|e| key(e) == name) else {
                let known: Vec<String> = SETTINGS.iter().map(|e| key(e)).collect();
                bail!(
                    "配置文件 {shown} 中有未知的设置项“{name}”；可用的设置项：{}",
                    known.join("、")
                );
            };
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                // A list (BANGFU_ALLOWED_ORIGINS) is the environment's comma-separated value.
                toml::Value::Array(items) => {
                    let mut parts = Vec::new();
                    for item in items {
                        match item {
                            toml::Value::String(s) => parts.push(s),
                            _ => bail!(
                                "配置文件 {shown} 中“{name}”的列表只能包含文字（带引号的字符串）"
                            ),
                        }
                    }
                    parts.join(",")
                }
                _ => bail!(
                    "配置文件 {shown} 中“{name}”的值无效：应为文字、整数、true/false 或文字列表"
                ),
            };
            values.insert(env, text);
        }
        Ok(Config {
            file: Some(path.to_path_buf()),
            values,
        })
    }

    /// The setting from the environment, else from the file. A variable set to nothing counts
    /// as not set.
    pub fn lookup(&self, env: &str) -> Option<Found> {
        if let Ok(value) = std::env::var(env)
            && !value.trim().is_empty()
        {
            return Some(Found {
                value,
                origin: format!("环境变量 {env}"),
            });
        }
        let value = self.values.get(env)?.clone();
        let file = self.file.as_deref().unwrap_or(Path::new(DEFAULT_FILE));
        Some(Found {
            value,
            origin: format!("配置文件 {} 的 {}", file.display(), key(env)),
        })
    }

    pub fn value(&self, env: &str) -> Option<String> {
        self.lookup(env).map(|f| f.value)
    }

    /// The command line's value if given, else the environment's or the file's, else `default`.
    pub fn resolve(&self, flag: Option<String>, env: &str, default: &str) -> String {
        flag.or_else(|| self.value(env))
            .unwrap_or_else(|| default.to_string())
    }

    /// A switch: on when the flag is given, else as the environment or the file say.
    pub fn switch(&self, flag: bool, env: &str) -> Result<bool> {
        if flag {
            return Ok(true);
        }
        match self.lookup(env) {
            None => Ok(false),
            Some(Found { value, origin }) => match value.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "" | "0" | "false" | "no" | "off" => Ok(false),
                _ => bail!("{origin} 的值“{value}”无效：应为 true 或 false"),
            },
        }
    }

    /// The upload and spreadsheet limits (`store::tabular::ReadLimits`).
    pub fn read_limits(&self) -> Result<store::tabular::ReadLimits> {
        store::tabular::ReadLimits::from_lookup(|k| self.lookup(k).map(|f| (f.value, f.origin)))
            .map_err(anyhow::Error::msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_variables_without_prefix() {
        assert_eq!(key("BANGFU_METRICS_ADDR"), "metrics_addr");
        let c = Config::parse(
            Path::new("x.toml"),
            "addr = \"0.0.0.0:80\"\nupload_max_bytes = 1024\nsecure_cookies = true\nallowed_origins = [\"https://a\", \"https://b\"]\n",
        )
        .unwrap();
        assert_eq!(c.values["BANGFU_ADDR"], "0.0.0.0:80");
        assert_eq!(c.values["BANGFU_UPLOAD_MAX_BYTES"], "1024");
        assert_eq!(c.values["BANGFU_SECURE_COOKIES"], "true");
        assert_eq!(c.values["BANGFU_ALLOWED_ORIGINS"], "https://a,https://b");
    }

    #[test]
    fn unknown_keys_and_tables_are_refused_by_name() {
        let e = Config::parse(Path::new("x.toml"), "adr = \"1\"").unwrap_err();
        assert!(e.to_string().contains("未知的设置项“adr”"), "{e}");
        let e = Config::parse(Path::new("x.toml"), "[server]\naddr = \"1\"").unwrap_err();
        assert!(e.to_string().contains("未知的设置项“server”"), "{e}");
        let e = Config::parse(Path::new("x.toml"), "addr = 1.5").unwrap_err();
        assert!(e.to_string().contains("“addr”的值无效"), "{e}");
    }
}
