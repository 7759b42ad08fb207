//! Settings every Loopback server shares. Each flag also reads a
//! `LOOPBACK_*` environment variable; `--help` documents both.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::auth::{AuthError, Authenticator, DEFAULT_AUDIENCE, DEFAULT_ISSUER};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Server settings shared by every service binary and `loopbackd`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Address to serve gRPC on.
    #[arg(long, env = "LOOPBACK_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Directory for SQLite databases and generated dev keys.
    #[arg(
        long,
        env = "LOOPBACK_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Log format.
    #[arg(long, env = "LOOPBACK_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// How long in-flight calls may take to finish after SIGTERM/Ctrl-C.
    #[arg(long, env = "LOOPBACK_SHUTDOWN_GRACE_SECONDS", default_value_t = 10)]
    pub shutdown_grace_seconds: u64,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub secrets: SecretArgs,
}

/// Bearer-token verification settings.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// JSON key files to verify bearer tokens with (comma-separated). When
    /// empty, `<data-dir>/dev-jwt-keys.json` is used (and created if missing
    /// by `loopbackd`).
    #[arg(
        long = "jwt-key-file",
        env = "LOOPBACK_JWT_KEY_FILES",
        value_delimiter = ','
    )]
    pub key_files: Vec<PathBuf>,
    /// Required `iss` claim.
    #[arg(long = "jwt-issuer", env = "LOOPBACK_JWT_ISSUER", default_value = DEFAULT_ISSUER)]
    pub issuer: String,
    /// Required `aud` claim.
    #[arg(long = "jwt-audience", env = "LOOPBACK_JWT_AUDIENCE", default_value = DEFAULT_AUDIENCE)]
    pub audience: String,
}

/// Name of the dev key file inside the data dir.
pub const DEV_KEY_FILE: &str = "dev-jwt-keys.json";

impl AuthArgs {
    /// The key files in force: the configured ones, or the data dir's dev key.
    pub fn effective_key_files(&self, data_dir: &std::path::Path) -> Vec<PathBuf> {
        if self.key_files.is_empty() {
            vec![data_dir.join(DEV_KEY_FILE)]
        } else {
            self.key_files.clone()
        }
    }

    /// Loads the authenticator; with no configured key files and
    /// `create_dev_key`, a dev key is generated first if missing. Returns
    /// whether a key was generated.
    pub fn authenticator(
        &self,
        data_dir: &std::path::Path,
        create_dev_key: bool,
    ) -> Result<(Authenticator, bool), AuthError> {
        let mut created = false;
        if self.key_files.is_empty() && create_dev_key {
            let dev = data_dir.join(DEV_KEY_FILE);
            if !dev.exists() {
                Authenticator::generate_key_file(&dev)?;
                created = true;
            }
        }
        let files = self.effective_key_files(data_dir);
        Ok((
            Authenticator::from_key_files(&files, &self.issuer, &self.audience)?,
            created,
        ))
    }
}

/// Secrets-at-rest settings.
#[derive(Debug, Clone, clap::Args)]
pub struct SecretArgs {
    /// JSON key files with AES-256 keys for secrets at rest (comma-separated);
    /// the last key is used for new secrets. When empty,
    /// `<data-dir>/dev-secret-keys.json` is used (created if missing by
    /// `loopbackd`).
    #[arg(
        id = "secret_key_files",
        value_name = "FILES",
        long = "secret-key-file",
        env = "LOOPBACK_SECRET_KEY_FILES",
        value_delimiter = ','
    )]
    pub key_files: Vec<PathBuf>,
}

/// Name of the dev secret key file inside the data dir.
pub const DEV_SECRET_KEY_FILE: &str = "dev-secret-keys.json";

impl SecretArgs {
    /// The key files in force: the configured ones, or the data dir's dev key.
    pub fn effective_key_files(&self, data_dir: &std::path::Path) -> Vec<PathBuf> {
        if self.key_files.is_empty() {
            vec![data_dir.join(DEV_SECRET_KEY_FILE)]
        } else {
            self.key_files.clone()
        }
    }

    /// Loads the keyring; with no configured files and `create_dev_key`,
    /// generates the dev key file first if missing.
    pub fn keyring(
        &self,
        data_dir: &std::path::Path,
        create_dev_key: bool,
    ) -> Result<crate::secrets::Keyring, crate::secrets::SecretsError> {
        if self.key_files.is_empty() && create_dev_key {
            let dev = data_dir.join(DEV_SECRET_KEY_FILE);
            // Another process starting at the same time may create it first;
            // the file appears complete or not at all, so that is fine.
            if !dev.exists()
                && let Err(e) = crate::secrets::Keyring::generate_key_file(&dev)
                && !dev.exists()
            {
                return Err(e);
            }
        }
        crate::secrets::Keyring::from_key_files(&self.effective_key_files(data_dir))
    }
}

/// Parses a duration flag: a whole number followed by `s`, `m`, `h` or `d`
/// (seconds, minutes, hours, days), e.g. `30d`, `90s`. A bare number is
/// refused, so a value never silently means another unit than intended.
/// Use it as a clap `value_parser`.
pub fn parse_duration(value: &str) -> Result<std::time::Duration, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{value:?}: give a unit, e.g. 30d, 12h, 15m or 90s"))?;
    let (number, unit) = value.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{value:?}: expected a whole number before the unit"))?;
    let seconds_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("{value:?}: the unit must be s, m, h or d")),
    };
    n.checked_mul(seconds_per)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{value:?} is too long"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_duration;

    #[test]
    fn durations_take_one_of_four_units() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert_eq!(parse_duration(" 15m "), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in [
            "",
            "30",
            "d",
            "1.5h",
            "-1s",
            "3w",
            "10 s",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} is refused");
        }
    }
}
