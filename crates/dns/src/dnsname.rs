//! DNS names as dns accepts them: IDNA-normalised to lower-case ASCII
//! (`idna`), checked against the public suffix list (`psl`) where a name
//! must be registrable, and against the wire limits by hickory-proto's
//! [`Name`] (63 octets a label, 255 a name).
//!
//! Every function takes what a caller typed and returns the canonical form,
//! or a description of what is wrong that reads well after the field's name.

use std::str::FromStr as _;

use hickory_proto::rr::Name;

/// The longest DNS name in presentation form, without the trailing dot.
const MAX_NAME: usize = 253;

/// Lower-case ASCII (IDNA, STD3 rules: letters, digits, hyphens) without
/// a trailing dot; the message names what is wrong.
fn to_ascii_strict(input: &str) -> Result<String, String> {
    let trimmed = input.trim();
    let bare = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if bare.is_empty() {
        return Err("is required".into());
    }
    let ascii = idna::domain_to_ascii_strict(bare).map_err(|_| {
        format!(
            "{} is not a valid domain name: labels of letters, digits and inner hyphens (other scripts as IDNA)",
            loopback_runtime::errors::quote(input)
        )
    })?;
    check_wire(&ascii)?;
    Ok(ascii)
}

/// The name fits the DNS wire format (hickory-proto's own check).
fn check_wire(ascii: &str) -> Result<(), String> {
    if ascii.len() > MAX_NAME {
        return Err(format!("is longer than {MAX_NAME} characters"));
    }
    Name::from_ascii(format!("{ascii}.")).map_err(|e| format!("is not a valid DNS name: {e}"))?;
    Ok(())
}

/// A registrable domain (a domain registration record): lower-case ASCII,
/// no trailing dot, exactly the registrable part of a name under a known
/// public suffix. `co.uk` (a public suffix) and `www.example.com` (a
/// subdomain) are refused.
pub fn registrable_domain(input: &str) -> Result<String, String> {
    let name = to_ascii_strict(input)?;
    if !name.contains('.') {
        return Err(format!(
            "{} is a top-level domain: add a domain registered under it, e.g. example.{name}",
            loopback_runtime::errors::quote(&name)
        ));
    }
    let suffix = psl::suffix(name.as_bytes())
        .filter(psl::Suffix::is_known)
        .ok_or_else(|| {
            format!(
                "{} is not under a known public suffix (top-level domain)",
                loopback_runtime::errors::quote(&name)
            )
        })?;
    let suffix = String::from_utf8_lossy(suffix.as_bytes()).to_string();
    if suffix == name {
        return Err(format!(
            "{} is a public suffix, which nobody can own: add a domain registered under it, e.g. example.{name}",
            loopback_runtime::errors::quote(&name)
        ));
    }
    let registrable = psl::domain(name.as_bytes())
        .map(|d| String::from_utf8_lossy(d.as_bytes()).to_string())
        .unwrap_or_default();
    if registrable != name {
        return Err(format!(
            "{} is a subdomain of {registrable}: add the registered domain {registrable} itself",
            loopback_runtime::errors::quote(&name)
        ));
    }
    Ok(name)
}

/// The registrable domain a name belongs to (`www.example.co.uk.` →
/// `example.co.uk`), if it is under a known public suffix.
pub fn registrable_part(fqdn: &str) -> Option<String> {
    let bare = fqdn.strip_suffix('.').unwrap_or(fqdn);
    let suffix = psl::suffix(bare.as_bytes())?;
    if !suffix.is_known() {
        return None;
    }
    psl::domain(bare.as_bytes()).map(|d| String::from_utf8_lossy(d.as_bytes()).to_string())
}

/// The Unicode form of an ASCII domain name, for display.
pub fn to_unicode(ascii: &str) -> String {
    let (unicode, result) = idna::domain_to_unicode(ascii);
    if result.is_ok() {
        unicode
    } else {
        ascii.to_string()
    }
}

/// A zone's apex: lower-case ASCII with a trailing dot; neither a public
/// suffix (`com.`, `co.uk.`) nor a single label.
pub fn zone_apex(input: &str) -> Result<String, String> {
    let name = to_ascii_strict(input)?;
    let is_suffix = match psl::suffix(name.as_bytes()) {
        Some(suffix) => suffix.as_bytes() == name.as_bytes(),
        None => true,
    };
    if is_suffix || !name.contains('.') {
        return Err(format!(
            "{} is a public suffix (or a top-level domain): a zone must be a domain under it, e.g. example.{name}.",
            loopback_runtime::errors::quote(&name)
        ));
    }
    Ok(format!("{name}."))
}

/// A hostname (MX exchange, NS host, SRV target): letters, digits and inner
/// hyphens per label, at least two labels, absolute, lower-case ASCII with
/// a trailing dot.
pub fn hostname(input: &str) -> Result<String, String> {
    let name = to_ascii_strict(input)?;
    if !name.contains('.') {
        return Err(format!(
            "{} is not a fully-qualified hostname such as mail.example.com.",
            loopback_runtime::errors::quote(input)
        ));
    }
    Ok(format!("{name}."))
}

/// Lower-case ASCII labels of a name that may hold underscores (`_dmarc`,
/// `_sip._tcp`) and, where `wildcard`, a leftmost `*`: the IDNA mapping of
/// each label, checked label by label.
fn labels(input: &str, wildcard: bool) -> Result<Vec<String>, String> {
    let trimmed = input.trim();
    let bare = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if bare.is_empty() {
        return Err("is required".into());
    }
    let mut out = Vec::new();
    for (i, label) in bare.split('.').enumerate() {
        if label.is_empty() {
            return Err(format!(
                "{} has an empty label (two dots in a row)",
                loopback_runtime::errors::quote(input)
            ));
        }
        if label == "*" {
            if !wildcard {
                return Err("may not hold a wildcard `*`".into());
            }
            if i != 0 {
                return Err(format!(
                    "{}: a wildcard `*` may only be the leftmost label",
                    loopback_runtime::errors::quote(input)
                ));
            }
            out.push("*".to_string());
            continue;
        }
        if label.contains('*') {
            return Err(format!(
                "{}: `*` may only stand alone as the leftmost label",
                loopback_runtime::errors::quote(input)
            ));
        }
        let ascii = if label.is_ascii() {
            label.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii_strict(label).map_err(|_| {
                format!(
                    "{}: label {} is not valid IDNA",
                    loopback_runtime::errors::quote(input),
                    loopback_runtime::errors::quote(label)
                )
            })?
        };
        let ok = ascii
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !ok {
            return Err(format!(
                "{}: label {} may only hold letters, digits, `-` and `_`",
                loopback_runtime::errors::quote(input),
                loopback_runtime::errors::quote(label)
            ));
        }
        if ascii.len() > 63 {
            return Err(format!(
                "{}: label {} is longer than 63 characters",
                loopback_runtime::errors::quote(input),
                loopback_runtime::errors::quote(label)
            ));
        }
        out.push(ascii);
    }
    check_wire(&out.join("."))?;
    Ok(out)
}

/// An owner name in `zone` (its apex, lower-case with a trailing dot):
/// `@` is the apex; otherwise absolute (the trailing dot is optional),
/// lower-cased, IDNA-mapped, a `*` only as the leftmost label, and at or
/// below the apex.
pub fn owner_name(input: &str, zone: &str) -> Result<String, String> {
    if input.trim() == "@" {
        return Ok(zone.to_string());
    }
    let name = format!("{}.", labels(input, true)?.join("."));
    if !in_zone(&name, zone) {
        return Err(format!(
            "{} is outside the zone {zone}: give the full name, e.g. {}.{zone}",
            loopback_runtime::errors::quote(&name),
            name.split('.').next().unwrap_or("www"),
        ));
    }
    Ok(name)
}

/// An owner name in canonical form, without knowing the zone (list
/// filters): the same rules as [`owner_name`] but for the zone.
pub fn any_owner_name(input: &str) -> Result<String, String> {
    Ok(format!("{}.", labels(input, true)?.join(".")))
}

/// A name records may point to (a CNAME target): like an owner name, with
/// underscores but no wildcard, at least two labels, absolute.
pub fn target_name(input: &str) -> Result<String, String> {
    let labels = labels(input, false)?;
    if labels.len() < 2 {
        return Err(format!(
            "{} is not a fully-qualified name such as app.example.net.",
            loopback_runtime::errors::quote(input)
        ));
    }
    Ok(format!("{}.", labels.join(".")))
}

/// Whether `name` is `zone` or below it (both canonical, with the dot).
pub fn in_zone(name: &str, zone: &str) -> bool {
    name == zone || name.ends_with(&format!(".{zone}"))
}

/// A canonical name as hickory-proto's [`Name`] (e.g. a zone file's
/// origin).
pub fn to_hickory(canonical: &str) -> Option<Name> {
    Name::from_str(canonical).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_domains_are_idna_normalised_and_public_suffix_aware() {
        assert_eq!(registrable_domain("Example.COM."), Ok("example.com".into()));
        assert_eq!(
            registrable_domain("bücher.example"),
            Err(
                "\"xn--bcher-kva.example\" is not under a known public suffix (top-level domain)"
                    .into()
            )
        );
        assert_eq!(
            registrable_domain("bücher.de"),
            Ok("xn--bcher-kva.de".into())
        );
        assert_eq!(
            registrable_domain("example.co.uk"),
            Ok("example.co.uk".into())
        );
        assert!(
            registrable_domain("co.uk")
                .unwrap_err()
                .contains("public suffix")
        );
        assert!(registrable_domain("com").unwrap_err().contains("top-level"));
        assert!(
            registrable_domain("www.example.com")
                .unwrap_err()
                .contains("subdomain of example.com")
        );
        assert!(registrable_domain("exa mple.com").is_err());
        assert!(registrable_domain("-bad.com").is_err());
        assert!(registrable_domain("").is_err());
        assert!(registrable_domain(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn owner_names_are_normalised_and_stay_inside_their_zone() {
        let zone = "example.com.";
        assert_eq!(owner_name("@", zone), Ok(zone.into()));
        assert_eq!(
            owner_name("WWW.Example.com", zone),
            Ok("www.example.com.".into())
        );
        assert_eq!(
            owner_name("www.example.com.", zone),
            Ok("www.example.com.".into())
        );
        assert_eq!(
            owner_name("*.apps.example.com", zone),
            Ok("*.apps.example.com.".into())
        );
        assert_eq!(
            owner_name("_sip._tcp.example.com", zone),
            Ok("_sip._tcp.example.com.".into())
        );
        assert_eq!(
            owner_name("bücher.example.com", zone),
            Ok("xn--bcher-kva.example.com.".into())
        );
        assert!(
            owner_name("www", zone)
                .unwrap_err()
                .contains("outside the zone")
        );
        assert!(owner_name("www.example.org.", zone).is_err());
        assert!(owner_name("notexample.com.", zone).is_err());
        assert!(
            owner_name("a.*.example.com", zone)
                .unwrap_err()
                .contains("leftmost")
        );
        assert!(owner_name("*a.example.com", zone).is_err());
        assert!(owner_name("a..example.com", zone).is_err());
        assert!(owner_name("a b.example.com", zone).is_err());
        assert!(owner_name(&format!("{}.example.com", "a".repeat(64)), zone).is_err());
    }

    #[test]
    fn hostnames_and_targets() {
        assert_eq!(hostname("Mail.Example.net"), Ok("mail.example.net.".into()));
        assert!(hostname("mail").is_err());
        assert!(hostname("_x.example.net").is_err());
        assert!(hostname("*.example.net").is_err());
        assert_eq!(
            target_name("s1._domainkey.example.net"),
            Ok("s1._domainkey.example.net.".into())
        );
        assert!(target_name("*.example.net").is_err());
    }

    #[test]
    fn zone_apexes_are_not_public_suffixes() {
        assert_eq!(zone_apex("Example.com"), Ok("example.com.".into()));
        assert_eq!(
            zone_apex("sub.example.co.uk."),
            Ok("sub.example.co.uk.".into())
        );
        assert!(zone_apex("co.uk").is_err());
        assert!(zone_apex("com.").is_err());
        assert!(zone_apex("internal").is_err());
        assert_eq!(
            registrable_part("www.example.co.uk."),
            Some("example.co.uk".into())
        );
        assert_eq!(to_unicode("xn--bcher-kva.de"), "bücher.de");
    }
}
