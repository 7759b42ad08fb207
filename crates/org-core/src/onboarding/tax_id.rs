//! Tax ids and countries of a legal profile.
//!
//! Countries are ISO 3166-1 alpha-2 codes, checked against the `celes`
//! crate's list. Tax ids are checked against the format the country
//! publishes, where there is one: the VAT number formats of the 27 EU member
//! states as the European Commission lists them for VIES (with `EL` as
//! Greece's prefix), and the United Kingdom's (`GB`, or `XI` for Northern
//! Ireland). These are format checks (prefix, length, which positions are
//! letters or digits), not checksums, and not a VIES lookup: a number in the
//! right shape may still be unregistered. No maintained crate does only
//! this (those on crates.io either call VIES over the network or are young
//! ports with panicking checksum code), so the published formats are a
//! table here. Elsewhere a tax id is 1 to 32 letters, digits and hyphens.

use std::sync::LazyLock;

use loopback_runtime::errors::quote;
use regex::Regex;

/// Longest tax id of a country without a known format.
pub const MAX_GENERIC_CHARS: usize = 32;

/// One published VAT number format.
struct VatFormat {
    /// The VAT prefix (usually the ISO country code; `EL` for Greece, `XI`
    /// for Northern Ireland).
    prefix: &'static str,
    /// What follows the prefix, as a regular expression.
    pattern: &'static str,
    /// The same for people.
    human: &'static str,
}

const fn vat(prefix: &'static str, pattern: &'static str, human: &'static str) -> VatFormat {
    VatFormat {
        prefix,
        pattern,
        human,
    }
}

/// The published formats, by VAT prefix.
const FORMATS: &[VatFormat] = &[
    vat("AT", r"U[0-9]{8}", "U and 8 digits"),
    vat("BE", r"[01][0-9]{9}", "10 digits starting with 0 or 1"),
    vat("BG", r"[0-9]{9,10}", "9 or 10 digits"),
    vat("CY", r"[0-9]{8}[A-Z]", "8 digits and a letter"),
    vat("CZ", r"[0-9]{8,10}", "8, 9 or 10 digits"),
    vat("DE", r"[0-9]{9}", "9 digits"),
    vat("DK", r"[0-9]{8}", "8 digits"),
    vat("EE", r"[0-9]{9}", "9 digits"),
    vat("EL", r"[0-9]{9}", "9 digits"),
    vat(
        "ES",
        r"[0-9A-Z][0-9]{7}[0-9A-Z]",
        "9 characters: a letter or digit, 7 digits, a letter or digit",
    ),
    vat("FI", r"[0-9]{8}", "8 digits"),
    vat(
        "FR",
        r"[0-9A-Z]{2}[0-9]{9}",
        "2 letters or digits and 9 digits",
    ),
    vat("HR", r"[0-9]{11}", "11 digits"),
    vat("HU", r"[0-9]{8}", "8 digits"),
    vat(
        "IE",
        r"[0-9][0-9A-Z][0-9]{5}[A-Z]|[0-9]{7}[A-W][A-I]?",
        "8 or 9 characters: digits with one or two letters",
    ),
    vat("IT", r"[0-9]{11}", "11 digits"),
    vat("LT", r"[0-9]{9}|[0-9]{12}", "9 or 12 digits"),
    vat("LU", r"[0-9]{8}", "8 digits"),
    vat("LV", r"[0-9]{11}", "11 digits"),
    vat("MT", r"[0-9]{8}", "8 digits"),
    vat("NL", r"[0-9]{9}B[0-9]{2}", "9 digits, B and 2 digits"),
    vat("PL", r"[0-9]{10}", "10 digits"),
    vat("PT", r"[0-9]{9}", "9 digits"),
    vat("RO", r"[0-9]{2,10}", "2 to 10 digits"),
    vat("SE", r"[0-9]{10}01", "12 digits ending in 01"),
    vat("SI", r"[0-9]{8}", "8 digits"),
    vat("SK", r"[0-9]{10}", "10 digits"),
    vat(
        "GB",
        r"[0-9]{9}|[0-9]{12}|GD[0-4][0-9]{2}|HA[5-9][0-9]{2}",
        "9 or 12 digits, GD and 3 digits, or HA and 3 digits",
    ),
    vat(
        "XI",
        r"[0-9]{9}|[0-9]{12}|GD[0-4][0-9]{2}|HA[5-9][0-9]{2}",
        "9 or 12 digits, GD and 3 digits, or HA and 3 digits",
    ),
];

/// The 27 EU member states (ISO 3166-1 codes).
pub static EU_MEMBER_STATES: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

static COMPILED: LazyLock<Vec<(&'static VatFormat, Regex)>> = LazyLock::new(|| {
    FORMATS
        .iter()
        .map(|f| {
            let re = Regex::new(&format!("^(?:{})$", f.pattern))
                .unwrap_or_else(|e| panic!("VAT format of {}: {e}", f.prefix));
            (f, re)
        })
        .collect()
});

/// The VAT prefixes a tax id of `country` may carry, if the country has a
/// published format: Greece's is `EL`; the United Kingdom's `GB`, or `XI`
/// in Northern Ireland.
pub fn vat_prefixes(country: &str) -> Option<&'static [&'static str]> {
    match country {
        "GR" => Some(&["EL"]),
        "GB" => Some(&["GB", "XI"]),
        c => EU_MEMBER_STATES
            .iter()
            .position(|m| *m == c)
            .map(|i| std::slice::from_ref(&EU_MEMBER_STATES[i])),
    }
}

/// An ISO 3166-1 alpha-2 country code, upper case.
pub fn country(raw: &str) -> Result<String, String> {
    let code = raw.trim().to_ascii_uppercase();
    if code.is_empty() {
        return Err("is required".into());
    }
    let two_letters = code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase());
    if two_letters && celes::Country::from_alpha2(&code).is_ok() {
        Ok(code)
    } else {
        Err(format!(
            "{} is not an ISO 3166-1 alpha-2 country code (e.g. DE, FR, US)",
            quote(raw)
        ))
    }
}

/// A tax id as stored: upper case, without whitespace or dots (and, where
/// the country publishes a VAT format, without hyphens).
pub fn normalize(raw: &str, country: Option<&str>) -> String {
    let known = country.and_then(vat_prefixes).is_some();
    raw.chars()
        .filter(|c| !c.is_whitespace() && *c != '.' && !(known && *c == '-'))
        .flat_map(char::to_uppercase)
        .collect()
}

/// Checks a normalised tax id against `country`'s published format (any
/// of its VAT prefixes), or the generic rule when the country has none or
/// is not known yet.
pub fn check(country: Option<&str>, tax_id: &str) -> Result<(), String> {
    let Some(prefixes) = country.and_then(vat_prefixes) else {
        return generic(tax_id);
    };
    let country = country.unwrap_or_default();
    let Some(prefix) = prefixes.iter().find(|p| tax_id.starts_with(**p)) else {
        let greek_hint = if country == "GR" && tax_id.starts_with("GR") {
            " (Greek VAT numbers start with EL)"
        } else {
            ""
        };
        return Err(format!(
            "{} must start with the VAT prefix {} of the profile's country {country}{greek_hint}",
            quote(tax_id),
            prefixes.join(" or ")
        ));
    };
    let rest = &tax_id[prefix.len()..];
    let (format, re) = COMPILED
        .iter()
        .find(|(f, _)| f.prefix == *prefix)
        .ok_or_else(|| format!("no VAT format for {prefix}"))?;
    if re.is_match(rest) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a {prefix} VAT number: {prefix} is followed by {}",
            quote(tax_id),
            format.human
        ))
    }
}

/// A tax id where no format is published: 1 to 32 letters, digits and
/// hyphens.
fn generic(tax_id: &str) -> Result<(), String> {
    let ok = (1..=MAX_GENERIC_CHARS).contains(&tax_id.chars().count())
        && tax_id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} must be 1 to {MAX_GENERIC_CHARS} letters, digits and hyphens",
            quote(tax_id)
        ))
    }
}

/// Normalises and checks a tax id given with `country` (when known).
pub fn parse(country: Option<&str>, raw: &str) -> Result<String, String> {
    let tax_id = normalize(raw, country);
    check(country, &tax_id).map(|()| tax_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_eu_member_state_has_a_format_and_the_table_compiles() {
        assert_eq!(COMPILED.len(), FORMATS.len());
        for country in EU_MEMBER_STATES {
            let prefixes = vat_prefixes(country).expect("EU member");
            for p in prefixes {
                assert!(FORMATS.iter().any(|f| f.prefix == *p), "{p}");
            }
            assert!(celes::Country::from_alpha2(country).is_ok(), "{country}");
        }
        assert_eq!(vat_prefixes("GR"), Some(&["EL"][..]));
        assert_eq!(vat_prefixes("US"), None);
    }

    #[test]
    fn published_formats() {
        for (country, good) in [
            ("DE", "DE123456789"),
            ("FR", "FRXX123456789"),
            ("FR", "FR12345678901"),
            ("NL", "NL123456789B01"),
            ("AT", "ATU12345678"),
            ("BE", "BE0123456789"),
            ("ES", "ESX1234567X"),
            ("ES", "ES12345678Z"),
            ("GR", "EL123456789"),
            ("IE", "IE1234567WA"),
            ("IE", "IE1X23456A"),
            ("SE", "SE123456789001"),
            ("GB", "GB123456789"),
            ("GB", "XI123456789"),
            ("GB", "GBGD001"),
        ] {
            assert_eq!(check(Some(country), good), Ok(()), "{country} {good}");
        }
        for (country, bad) in [
            ("DE", "DE12345678"),
            ("DE", "DE1234567890"),
            ("DE", "FR123456789"),
            ("DE", "123456789"),
            ("FR", "FR1234567890"),
            ("NL", "NL123456789A01"),
            ("AT", "AT12345678"),
            ("BE", "BE2123456789"),
            ("GR", "GR123456789"),
            ("SE", "SE123456789012"),
            ("GB", "XX123456789"),
        ] {
            assert!(check(Some(country), bad).is_err(), "{country} {bad}");
        }
    }

    #[test]
    fn normalising_and_the_generic_rule() {
        assert_eq!(
            parse(Some("DE"), " de 123.456.789 "),
            Ok("DE123456789".into())
        );
        assert_eq!(parse(Some("DE"), "DE-123456789"), Ok("DE123456789".into()));
        assert_eq!(parse(Some("US"), "12-3456789"), Ok("12-3456789".into()));
        assert_eq!(parse(None, "abc-123"), Ok("ABC-123".into()));
        assert!(parse(Some("US"), &"1".repeat(33)).is_err());
        assert!(parse(Some("US"), "12_345").is_err());
        assert!(parse(Some("US"), "").is_err());
        let long = parse(Some("DE"), &"9".repeat(10_000)).expect_err("bad");
        assert!(long.len() < 200, "{long}");
    }

    #[test]
    fn countries_are_iso_codes() {
        assert_eq!(country("de"), Ok("DE".into()));
        assert_eq!(country(" FR "), Ok("FR".into()));
        for bad in ["", "XX", "EU", "UK", "DEU", "D", "1A", "Deutschland"] {
            assert!(country(bad).is_err(), "{bad}");
        }
    }
}
