//! Field checks every API shares. Each returns `Err(description)` so callers
//! can collect every bad field into one INVALID_ARGUMENT.

use uuid::Uuid;

use crate::errors::quote;

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Longest audit reason, in characters.
pub const MAX_REASON_CHARS: usize = 1000;
/// Most labels on one resource.
pub const MAX_LABELS: usize = 64;

/// A display name: 1 to 200 characters, not only whitespace, no control characters.
pub fn display_name(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    bounded_text(value, MAX_DISPLAY_NAME_CHARS)
}

/// Free text up to `max` characters with no control characters other than newlines and tabs.
pub fn bounded_text(value: &str, max: usize) -> Result<(), String> {
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// A required reason for an audited operator change.
pub fn reason(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("is required: say why, for the audit log".into());
    }
    bounded_text(value, MAX_REASON_CHARS)
}

/// An optional `request_id`: empty or a UUID. Returns the canonical form.
pub fn request_id(value: &str) -> Result<Option<String>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    Uuid::parse_str(value)
        .map(|u| Some(u.hyphenated().to_string()))
        .map_err(|_| "must be a UUID".to_string())
}

/// Label keys and values (Kubernetes-like, lower-case).
pub fn labels<'a>(
    labels: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<(), String> {
    let mut count = 0;
    for (key, value) in labels {
        count += 1;
        let key_ok = (1..=63).contains(&key.len())
            && key.starts_with(|c: char| c.is_ascii_lowercase())
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !key_ok {
            return Err(format!(
                "key {} must be 1 to 63 characters of lowercase letters, digits, '_' and '-', starting with a letter",
                quote(key)
            ));
        }
        if value.len() > 63 || value.chars().any(|c| c.is_control()) {
            return Err(format!(
                "value of {} must be at most 63 characters with no control characters",
                quote(key)
            ));
        }
    }
    if count > MAX_LABELS {
        return Err(format!("must have at most {MAX_LABELS} labels"));
    }
    Ok(())
}

/// Parses one `{collection}/{uuid}` segment pair at the start of `name`,
/// returning the id and the rest of the name.
fn take_segment<'a>(name: &'a str, collection: &str) -> Result<(Uuid, &'a str), String> {
    let rest = name
        .strip_prefix(collection)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| format!("must look like {collection}/{{id}}"))?;
    let (id, rest) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let uuid = Uuid::parse_str(id)
        .map_err(|_| format!("{collection} id {} is not a valid id", quote(id)))?;
    // Only the canonical hyphenated lower-case form names a resource.
    if uuid.hyphenated().to_string() != id {
        return Err(format!("{collection} id {} is not a valid id", quote(id)));
    }
    Ok((uuid, rest))
}

/// Parses `organizations/{uuid}`.
pub fn organization_name(name: &str) -> Result<Uuid, String> {
    if name.is_empty() {
        return Err("is required".into());
    }
    match take_segment(name, "organizations") {
        Ok((id, "")) => Ok(id),
        Ok(_) => Err("must look like organizations/{id}".into()),
        Err(e) => Err(e),
    }
}

/// Parses `organizations/{uuid}/{collection}/{uuid}`.
pub fn child_name(name: &str, collection: &str) -> Result<(Uuid, Uuid), String> {
    if name.is_empty() {
        return Err("is required".into());
    }
    let shape = || format!("must look like organizations/{{id}}/{collection}/{{id}}");
    let (org, rest) = take_segment(name, "organizations").map_err(|_| shape())?;
    let rest = rest.strip_prefix('/').ok_or_else(shape)?;
    match take_segment(rest, collection) {
        Ok((child, "")) => Ok((org, child)),
        _ => Err(shape()),
    }
}

/// Parses `organizations/{uuid}/{collection}/{id}` where `{id}` is a
/// user-chosen id (1 to 63 lowercase letters, digits, `-` or `_`).
pub fn child_name_with_id(name: &str, collection: &str) -> Result<(Uuid, String), String> {
    if name.is_empty() {
        return Err("is required".into());
    }
    let shape = || format!("must look like organizations/{{id}}/{collection}/{{{collection}_id}}");
    let (org, rest) = take_segment(name, "organizations").map_err(|_| shape())?;
    let id = rest
        .strip_prefix('/')
        .and_then(|r| r.strip_prefix(collection))
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(shape)?;
    let ok = (1..=63).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        return Err(shape());
    }
    Ok((org, id.to_string()))
}

/// A syntactically valid email address, returned lower-cased and trimmed.
pub fn email(value: &str) -> Result<String, String> {
    let v = value.trim().to_lowercase();
    let Some((local, domain)) = v.rsplit_once('@') else {
        return Err("must be an email address".into());
    };
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.contains(char::is_whitespace)
        && !local.contains('@')
        && local.chars().all(|c| c.is_ascii_graphic());
    if v.len() > 254 || !domain_ok || !local_ok {
        return Err("must be an email address".into());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_only_canonical_forms() {
        let id = Uuid::now_v7();
        assert_eq!(organization_name(&format!("organizations/{id}")), Ok(id));
        assert!(organization_name("organizations/").is_err());
        assert!(organization_name("organizations/not-a-uuid").is_err());
        assert!(
            organization_name(&format!("organizations/{}", id.to_string().to_uppercase())).is_err()
        );
        assert!(organization_name(&format!("organizations/{id}/projects")).is_err());
        assert!(organization_name(&format!("projects/{id}")).is_err());
        let p = Uuid::now_v7();
        assert_eq!(
            child_name(&format!("organizations/{id}/projects/{p}"), "projects"),
            Ok((id, p))
        );
        assert!(child_name(&format!("organizations/{id}/members/{p}"), "projects").is_err());
        assert!(child_name(&format!("organizations/{id}/projects/{p}/x"), "projects").is_err());
    }

    #[test]
    fn display_names_and_emails() {
        assert!(display_name("Acme").is_ok());
        assert!(display_name("  ").is_err());
        assert!(display_name(&"x".repeat(201)).is_err());
        assert!(display_name("bad\u{0}").is_err());
        assert_eq!(email(" Alice@Example.COM "), Ok("alice@example.com".into()));
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "a b@example.com",
            "alice@example",
            "alice@-x.com",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }
}
