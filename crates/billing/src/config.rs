//! billing's settings: database, price book and tax. How billing reaches
//! org-core is the authority client's business (`AuthorityArgs`), set once
//! per binary, not here.

use std::collections::BTreeMap;
use std::path::Path;

/// billing settings; every flag also reads a `LOOPBACK_*` variable.
#[derive(Debug, Clone, clap::Args)]
pub struct BillingArgs {
    /// Database URL (`sqlite://...` or `postgres://...`). Default: the
    /// SQLite file `billing.db` in the data dir.
    #[arg(
        id = "billing_database_url",
        long = "billing-database-url",
        env = "LOOPBACK_BILLING_DATABASE_URL"
    )]
    pub database_url: Option<String>,
    /// Price book entries `METER=MINOR_UNITS_PER_UNIT` (comma-separated),
    /// e.g. `compute.vcpu_hours=4,storage.gb_hours=1`.
    #[arg(
        long = "price",
        env = "LOOPBACK_PRICES",
        value_delimiter = ',',
        default_value = "compute.vcpu_hours=4,compute.memory_gb_hours=1,storage.gb_hours=1,network.egress_gb=9,dns.queries_million=40"
    )]
    pub prices: Vec<String>,
    /// ISO 4217 currency of the price book.
    #[arg(long = "currency", env = "LOOPBACK_CURRENCY", default_value = "EUR")]
    pub currency: String,
    /// Tax rate in basis points (1900 = 19 %).
    #[arg(
        long = "tax-rate-bps",
        env = "LOOPBACK_TAX_RATE_BPS",
        default_value_t = 1900
    )]
    pub tax_rate_bps: u32,
    /// The integrations service's gRPC URL, where spending alerts are
    /// notified (with billing's service token). Default: the org-core URL
    /// (`loopbackd` serves both); a standalone billing sets it.
    #[arg(long = "integrations-url", env = "LOOPBACK_INTEGRATIONS_URL")]
    pub integrations_url: Option<String>,
}

impl Default for BillingArgs {
    fn default() -> Self {
        Self {
            database_url: None,
            prices: vec!["compute.vcpu_hours=4".into()],
            currency: "EUR".into(),
            tax_rate_bps: 1900,
            integrations_url: None,
        }
    }
}

/// The price book: meter → price per unit in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceBook {
    /// Prices by meter.
    pub prices: BTreeMap<String, i64>,
    /// ISO 4217 currency.
    pub currency: String,
    /// Tax rate in basis points.
    pub tax_rate_bps: u32,
}

impl PriceBook {
    /// Price of one unit of `meter` in minor units (0 for a meter the book
    /// no longer lists).
    pub fn unit_price(&self, meter: &str) -> i64 {
        self.prices.get(meter).copied().unwrap_or(0)
    }

    /// Tax on `subtotal` minor units, rounded half up to the minor unit.
    pub fn tax(&self, subtotal: i64) -> i64 {
        let t = i128::from(subtotal) * i128::from(self.tax_rate_bps);
        i64::try_from((t + 5_000) / 10_000).unwrap_or(i64::MAX)
    }
}

/// Validated billing settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The price book.
    pub price_book: PriceBook,
}

impl BillingArgs {
    /// The database URL in force.
    pub fn database_url(&self, data_dir: &Path) -> std::io::Result<String> {
        match &self.database_url {
            Some(url) => Ok(url.clone()),
            None => loopback_runtime::db::sqlite_url(data_dir, "billing.db"),
        }
    }

    /// Checks every value; the error names the setting.
    pub fn settings(&self) -> Result<Settings, String> {
        let mut prices = BTreeMap::new();
        for entry in self.prices.iter().filter(|e| !e.trim().is_empty()) {
            let (meter, price) = entry
                .split_once('=')
                .ok_or_else(|| format!("--price {entry:?}: expected METER=MINOR_UNITS"))?;
            let meter = meter.trim();
            let ok = !meter.is_empty()
                && meter.len() <= 64
                && meter
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_');
            if !ok {
                return Err(format!(
                    "--price: meter {meter:?} must be lowercase letters, digits, '.' and '_'"
                ));
            }
            let price: i64 = price
                .trim()
                .parse()
                .ok()
                .filter(|p| *p >= 0)
                .ok_or_else(|| {
                    format!("--price {meter}: price must be a non-negative integer of minor units")
                })?;
            prices.insert(meter.to_string(), price);
        }
        let currency = self.currency.trim().to_uppercase();
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err("--currency must be an ISO 4217 code such as EUR".into());
        }
        if self.tax_rate_bps > 10_000 {
            return Err("--tax-rate-bps must be at most 10000".into());
        }
        Ok(Settings {
            price_book: PriceBook {
                prices,
                currency,
                tax_rate_bps: self.tax_rate_bps,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_rounds_half_up_in_minor_units() {
        let book = PriceBook {
            prices: BTreeMap::new(),
            currency: "EUR".into(),
            tax_rate_bps: 1900,
        };
        assert_eq!(book.tax(100), 19);
        assert_eq!(book.tax(3), 1); // 0.57 → 1
        assert_eq!(book.tax(2), 0); // 0.38 → 0
    }

    #[test]
    fn price_book_is_validated() {
        let mut args = BillingArgs {
            prices: vec!["compute.vcpu_hours=4".into(), "storage.gb_hours=1".into()],
            ..BillingArgs::default()
        };
        assert_eq!(args.settings().expect("valid").price_book.prices.len(), 2);
        args.prices = vec!["Bad Meter=1".into()];
        assert!(args.settings().is_err());
        args.prices = vec!["m=-1".into()];
        assert!(args.settings().is_err());
    }
}
