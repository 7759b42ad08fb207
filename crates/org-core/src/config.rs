//! org-core's own settings (on top of the shared server settings).

use std::path::Path;
use std::time::Duration;

use loopback_runtime::config::parse_duration;
use loopback_runtime::secrets::Keyring;

use crate::onboarding::Item;
use crate::policy::{self, Capabilities};

/// org-core settings; every flag also reads a `LOOPBACK_*` variable.
#[derive(Debug, Clone, clap::Args)]
pub struct OrgCoreArgs {
    /// Database URL (`sqlite://...` or `postgres://...`). Default: the
    /// SQLite file `org-core.db` in the data dir.
    #[arg(long = "org-core-database-url", env = "LOOPBACK_ORG_CORE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Deployment default of a capability limit, `KEY=VALUE` (repeatable or
    /// comma-separated), e.g. `max_projects=20`.
    #[arg(
        long = "default-limit",
        env = "LOOPBACK_DEFAULT_LIMITS",
        value_delimiter = ','
    )]
    pub default_limits: Vec<String>,
    /// Deployment default of a limitation flag, `KEY=true|false`.
    #[arg(
        long = "default-flag",
        env = "LOOPBACK_DEFAULT_FLAGS",
        value_delimiter = ','
    )]
    pub default_flags: Vec<String>,
    /// Enabled deployment features (comma-separated); default: all of
    /// github, gitlab, network_bridges, monitoring, notifications.
    #[arg(long = "features", env = "LOOPBACK_FEATURES", value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// How long a soft-deleted organization or project can be undeleted
    /// before the purge job removes it for good: a whole number with a
    /// unit, `s`, `m`, `h` or `d` (e.g. `30d`).
    #[arg(
        long = "deleted-retention",
        env = "LOOPBACK_DELETED_RETENTION",
        default_value = "30d",
        value_parser = parse_duration
    )]
    pub deleted_retention: Duration,
    /// How often the purge job looks for organizations and projects past
    /// their purge time (`s`, `m`, `h` or `d`).
    #[arg(
        long = "purge-interval",
        env = "LOOPBACK_PURGE_INTERVAL",
        default_value = "1m",
        value_parser = parse_duration
    )]
    pub purge_interval: Duration,
    /// How long policy changes stay on the feed: a watcher further behind
    /// than this is told to resync (`s`, `m`, `h` or `d`).
    #[arg(
        long = "feed-retention",
        env = "LOOPBACK_FEED_RETENTION",
        default_value = "7d",
        value_parser = parse_duration
    )]
    pub feed_retention: Duration,
    /// How often the feed is compacted to `--feed-retention` (`s`, `m`,
    /// `h` or `d`).
    #[arg(
        long = "feed-compaction-interval",
        env = "LOOPBACK_FEED_COMPACTION_INTERVAL",
        default_value = "5m",
        value_parser = parse_duration
    )]
    pub feed_compaction_interval: Duration,
    /// Accept `http://` issuer and metadata URLs for loopback hosts
    /// (localhost, 127.0.0.1, ::1): for development only.
    #[arg(
        long = "allow-http-loopback-idp",
        env = "LOOPBACK_ALLOW_HTTP_LOOPBACK_IDP"
    )]
    pub allow_http_loopback_idp: bool,
    /// Fraction of a limit at which usage is flagged as a warning.
    #[arg(
        long = "usage-warning-fraction",
        env = "LOOPBACK_USAGE_WARNING_FRACTION",
        default_value_t = 0.8
    )]
    pub usage_warning_fraction: f64,
    /// The plan new organizations get (its id). The plan always exists:
    /// if no plan has this id, org-core creates it at start with the
    /// deployment's defaults and every deployment feature. It cannot be
    /// deleted while it is the default.
    #[arg(
        long = "default-plan",
        env = "LOOPBACK_DEFAULT_PLAN",
        default_value = "default"
    )]
    pub default_plan: String,
    /// Hours an invite token stays valid unless the request says otherwise.
    #[arg(
        long = "invite-ttl-hours",
        env = "LOOPBACK_INVITE_TTL_HOURS",
        default_value_t = 168
    )]
    pub invite_ttl_hours: u32,
    /// What an organization must complete before it can submit itself for
    /// verification (comma-separated, in the order GetOnboardingStatus lists
    /// them): `profile` (legal name, address, country, billing email),
    /// `tax_id`, `payment_method` (reported by billing). Empty: nothing.
    #[arg(
        long = "onboarding-checklist",
        env = "LOOPBACK_ONBOARDING_CHECKLIST",
        value_delimiter = ',',
        default_value = "profile,payment_method"
    )]
    pub onboarding_checklist: Vec<String>,
}

impl Default for OrgCoreArgs {
    fn default() -> Self {
        Self {
            database_url: None,
            default_limits: Vec::new(),
            default_flags: Vec::new(),
            features: None,
            default_plan: "default".into(),
            deleted_retention: Duration::from_secs(30 * 86_400),
            purge_interval: Duration::from_secs(60),
            feed_retention: Duration::from_secs(7 * 86_400),
            feed_compaction_interval: Duration::from_secs(300),
            invite_ttl_hours: 168,
            allow_http_loopback_idp: false,
            usage_warning_fraction: 0.8,
            onboarding_checklist: Item::DEFAULT.map(|i| i.as_str().to_string()).to_vec(),
        }
    }
}

/// Validated org-core settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Deployment defaults of every limit and flag.
    pub defaults: Capabilities,
    /// Enabled deployment features.
    pub features: Vec<String>,
    /// The id of the plan new organizations get.
    pub default_plan: String,
    /// How long soft-deleted resources can be undeleted.
    pub retention: chrono::Duration,
    /// How often the purge job runs.
    pub purge_interval: Duration,
    /// How long policy changes stay on the feed.
    pub feed_retention: chrono::Duration,
    /// How often the feed is compacted.
    pub feed_compaction_interval: Duration,
    /// Default validity of invite tokens.
    pub invite_ttl: chrono::Duration,
    /// Accept http:// IdP URLs on loopback hosts (development).
    pub allow_http_loopback_idp: bool,
    /// Keys for secrets at rest.
    pub keyring: Keyring,
    /// Fraction of a limit at which usage is flagged.
    pub usage_warning_fraction: f64,
    /// The onboarding checklist, in order.
    pub onboarding_checklist: Vec<Item>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            defaults: Capabilities::builtin_defaults(),
            features: policy::FEATURES.iter().map(|f| f.to_string()).collect(),
            default_plan: "default".into(),
            retention: chrono::Duration::days(30),
            purge_interval: Duration::from_secs(60),
            feed_retention: chrono::Duration::days(7),
            feed_compaction_interval: Duration::from_secs(300),
            invite_ttl: chrono::Duration::days(7),
            allow_http_loopback_idp: false,
            keyring: ephemeral_keyring(),
            usage_warning_fraction: 0.8,
            onboarding_checklist: Item::DEFAULT.to_vec(),
        }
    }
}

/// A keyring with one random key that lives only in memory (tests and
/// defaults; real servers load key files).
pub fn ephemeral_keyring() -> Keyring {
    use rand::RngCore as _;
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    // One well-formed key cannot be refused.
    Keyring::from_keys(vec![("ephemeral".to_string(), key)])
        .unwrap_or_else(|e| panic!("ephemeral keyring: {e}"))
}

impl OrgCoreArgs {
    /// The database URL in force.
    pub fn database_url(&self, data_dir: &Path) -> std::io::Result<String> {
        match &self.database_url {
            Some(url) => Ok(url.clone()),
            None => loopback_runtime::db::sqlite_url(data_dir, "org-core.db"),
        }
    }

    /// Checks every value and builds [`Settings`] with `keyring`; the error
    /// says which setting is wrong.
    pub fn settings(&self, keyring: Keyring) -> Result<Settings, String> {
        let mut settings = Settings {
            keyring,
            allow_http_loopback_idp: self.allow_http_loopback_idp,
            ..Settings::default()
        };
        for entry in self.default_limits.iter().filter(|e| !e.trim().is_empty()) {
            let (key, value) = entry
                .split_once('=')
                .ok_or_else(|| format!("--default-limit {entry:?}: expected KEY=VALUE"))?;
            let key = key.trim();
            if !policy::is_limit(key) {
                return Err(format!("--default-limit: unknown limit {key:?}"));
            }
            let value: i64 = value
                .trim()
                .parse()
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| {
                    format!("--default-limit {key}: value must be a non-negative integer")
                })?;
            settings.defaults.limits.insert(key.to_string(), value);
        }
        for entry in self.default_flags.iter().filter(|e| !e.trim().is_empty()) {
            let (key, value) = entry
                .split_once('=')
                .ok_or_else(|| format!("--default-flag {entry:?}: expected KEY=true|false"))?;
            let key = key.trim();
            if !policy::is_flag(key) {
                return Err(format!("--default-flag: unknown flag {key:?}"));
            }
            let value: bool = value
                .trim()
                .parse()
                .map_err(|_| format!("--default-flag {key}: value must be true or false"))?;
            settings.defaults.flags.insert(key.to_string(), value);
        }
        if let Some(features) = &self.features {
            let mut enabled = Vec::new();
            for f in features.iter().map(|f| f.trim()).filter(|f| !f.is_empty()) {
                if !policy::FEATURES.contains(&f) {
                    return Err(format!("--features: unknown feature {f:?}"));
                }
                enabled.push(f.to_string());
            }
            settings.features = enabled;
        }
        let default_plan = self.default_plan.trim();
        crate::plans::validate_plan_id(default_plan)
            .map_err(|e| format!("--default-plan: the plan id {e}"))?;
        settings.default_plan = default_plan.to_string();
        settings.retention = positive("--deleted-retention", self.deleted_retention)?;
        positive("--purge-interval", self.purge_interval)?;
        settings.purge_interval = self.purge_interval;
        settings.feed_retention = positive("--feed-retention", self.feed_retention)?;
        positive("--feed-compaction-interval", self.feed_compaction_interval)?;
        settings.feed_compaction_interval = self.feed_compaction_interval;
        if !(1..=720).contains(&self.invite_ttl_hours) {
            return Err("--invite-ttl-hours must be between 1 and 720".into());
        }
        settings.invite_ttl = chrono::Duration::hours(i64::from(self.invite_ttl_hours));
        if !(self.usage_warning_fraction > 0.0 && self.usage_warning_fraction <= 1.0) {
            return Err("--usage-warning-fraction must be in (0, 1]".into());
        }
        settings.usage_warning_fraction = self.usage_warning_fraction;
        let mut checklist = Vec::new();
        for key in self.onboarding_checklist.iter().map(|k| k.trim()) {
            if key.is_empty() {
                continue;
            }
            let item = Item::parse(key).ok_or_else(|| {
                format!(
                    "--onboarding-checklist: unknown item {key:?}; known: {}",
                    Item::keys()
                )
            })?;
            if !checklist.contains(&item) {
                checklist.push(item);
            }
        }
        settings.onboarding_checklist = checklist;
        Ok(settings)
    }
}

/// `value` as a chrono duration, refused when zero (or beyond chrono's
/// range); the error names `flag`.
fn positive(flag: &str, value: Duration) -> Result<chrono::Duration, String> {
    if value.is_zero() {
        return Err(format!("{flag} must be at least 1s"));
    }
    chrono::Duration::from_std(value).map_err(|_| format!("{flag} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_validate_every_key() {
        let mut args = OrgCoreArgs {
            default_limits: vec!["max_projects=3".into()],
            default_flags: vec!["sso_allowed=true".into()],
            ..OrgCoreArgs::default()
        };
        let s = args.settings(ephemeral_keyring()).expect("valid");
        assert_eq!(s.defaults.limit("max_projects"), 3);
        assert!(s.defaults.flags["sso_allowed"]);
        args.default_limits = vec!["max_bogus=3".into()];
        assert!(args.settings(ephemeral_keyring()).is_err());
        args.default_limits = vec!["max_projects=-1".into()];
        assert!(args.settings(ephemeral_keyring()).is_err());
    }

    #[test]
    fn the_onboarding_checklist_names_known_items() {
        let mut args = OrgCoreArgs::default();
        let s = args.settings(ephemeral_keyring()).expect("valid");
        assert_eq!(s.onboarding_checklist, Item::DEFAULT);
        args.onboarding_checklist = vec!["tax_id".into(), " profile".into(), "tax_id".into()];
        let s = args.settings(ephemeral_keyring()).expect("valid");
        assert_eq!(s.onboarding_checklist, [Item::TaxId, Item::Profile]);
        args.onboarding_checklist = vec![String::new()];
        let s = args.settings(ephemeral_keyring()).expect("valid");
        assert!(s.onboarding_checklist.is_empty());
        args.onboarding_checklist = vec!["kyc".into()];
        let err = args.settings(ephemeral_keyring()).expect_err("unknown");
        assert!(
            err.contains("--onboarding-checklist") && err.contains("kyc"),
            "{err}"
        );
    }

    #[test]
    fn retention_and_job_periods_are_durations() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: OrgCoreArgs,
        }
        let cli = Cli::try_parse_from([
            "org-core",
            "--deleted-retention=2s",
            "--purge-interval=1s",
            "--feed-retention=90m",
            "--feed-compaction-interval=1h",
        ])
        .expect("valid flags");
        let s = cli.args.settings(ephemeral_keyring()).expect("valid");
        assert_eq!(s.retention, chrono::Duration::seconds(2));
        assert_eq!(s.purge_interval, Duration::from_secs(1));
        assert_eq!(s.feed_retention, chrono::Duration::minutes(90));
        assert_eq!(s.feed_compaction_interval, Duration::from_secs(3_600));
        let defaults = Cli::try_parse_from(["org-core"]).expect("defaults");
        let s = defaults.args.settings(ephemeral_keyring()).expect("valid");
        assert_eq!(s.retention, chrono::Duration::days(30));
        assert_eq!(s.feed_retention, chrono::Duration::days(7));
        assert!(Cli::try_parse_from(["org-core", "--deleted-retention=30"]).is_err());
        let zero = Cli::try_parse_from(["org-core", "--purge-interval=0s"]).expect("parses");
        assert!(zero.args.settings(ephemeral_keyring()).is_err());
    }
}
