//! Record data, typed: what each record type holds, the checks of each
//! field (shared by the API adapter and the zone-file import), the
//! canonical master-file presentation, and the conversion from
//! hickory-proto's parsed [`RData`].

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use hickory_proto::rr::RData;
use hickory_proto::rr::rdata::caa;
use serde::{Deserialize, Serialize};

use crate::dnsname;

/// Shortest TTL a record may have, in seconds.
pub const MIN_TTL: i32 = 30;
/// Longest TTL a record may have, in seconds (a week).
pub const MAX_TTL: i32 = 604_800;
/// Longest TXT text, in bytes.
pub const MAX_TXT_BYTES: usize = 4000;
/// Longest CAA value, in characters.
pub const MAX_CAA_VALUE: usize = 1000;
/// Largest character-string in a TXT record, in bytes (RFC 1035).
const TXT_CHUNK: usize = 255;

/// The record types dns manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Alias.
    Cname,
    /// Mail exchanger.
    Mx,
    /// Text.
    Txt,
    /// Delegation.
    Ns,
    /// Service location.
    Srv,
    /// CA authorization.
    Caa,
}

impl RecordType {
    /// Every type.
    pub const ALL: [RecordType; 8] = [
        Self::A,
        Self::Aaaa,
        Self::Cname,
        Self::Mx,
        Self::Txt,
        Self::Ns,
        Self::Srv,
        Self::Caa,
    ];

    /// The mnemonic, as stored and written in zone files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Cname => "CNAME",
            Self::Mx => "MX",
            Self::Txt => "TXT",
            Self::Ns => "NS",
            Self::Srv => "SRV",
            Self::Caa => "CAA",
        }
    }

    /// The request field holding this type's data (`a`, `mx`, ...).
    pub fn field(self) -> &'static str {
        match self {
            Self::A => "a",
            Self::Aaaa => "aaaa",
            Self::Cname => "cname",
            Self::Mx => "mx",
            Self::Txt => "txt",
            Self::Ns => "ns",
            Self::Srv => "srv",
            Self::Caa => "caa",
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecordType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown record type {s:?}"))
    }
}

/// What a record holds, in canonical form (names lower-case ASCII with a
/// trailing dot): two records are duplicates exactly when their data are
/// equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "UPPERCASE")]
pub enum RecordData {
    /// `A`.
    A {
        /// Address.
        address: Ipv4Addr,
    },
    /// `AAAA`.
    Aaaa {
        /// Address.
        address: Ipv6Addr,
    },
    /// `CNAME`.
    Cname {
        /// The aliased name.
        target: String,
    },
    /// `MX`.
    Mx {
        /// Preference.
        preference: u16,
        /// Mail server (`.` for a null MX).
        exchange: String,
    },
    /// `TXT`.
    Txt {
        /// The text (served in chunks of at most 255 bytes).
        text: String,
    },
    /// `NS`.
    Ns {
        /// Nameserver.
        host: String,
    },
    /// `SRV`.
    Srv {
        /// Priority.
        priority: u16,
        /// Weight.
        weight: u16,
        /// Port.
        port: u16,
        /// Target (`.` for "not offered").
        target: String,
    },
    /// `CAA`.
    Caa {
        /// Flags: 0 or 128.
        flags: u8,
        /// Property tag, lower case.
        tag: String,
        /// Property value.
        value: String,
    },
}

impl RecordData {
    /// The record's type.
    pub fn record_type(&self) -> RecordType {
        match self {
            Self::A { .. } => RecordType::A,
            Self::Aaaa { .. } => RecordType::Aaaa,
            Self::Cname { .. } => RecordType::Cname,
            Self::Mx { .. } => RecordType::Mx,
            Self::Txt { .. } => RecordType::Txt,
            Self::Ns { .. } => RecordType::Ns,
            Self::Srv { .. } => RecordType::Srv,
            Self::Caa { .. } => RecordType::Caa,
        }
    }

    /// The master-file presentation of the data (RFC 1035 §5.1): names
    /// absolute, TXT as quoted character-strings of at most 255 bytes, CAA
    /// values quoted; `"` and `\` escaped with a backslash.
    pub fn presentation(&self) -> String {
        match self {
            Self::A { address } => address.to_string(),
            Self::Aaaa { address } => address.to_string(),
            Self::Cname { target } => target.clone(),
            Self::Mx {
                preference,
                exchange,
            } => format!("{preference} {exchange}"),
            Self::Txt { text } => txt_chunks(text)
                .iter()
                .map(|c| quoted(c))
                .collect::<Vec<_>>()
                .join(" "),
            Self::Ns { host } => host.clone(),
            Self::Srv {
                priority,
                weight,
                port,
                target,
            } => format!("{priority} {weight} {port} {target}"),
            Self::Caa { flags, tag, value } => format!("{flags} {tag} {}", quoted(value)),
        }
    }

    /// The field of the data that makes two records duplicates, for
    /// messages (`a.address`, `mx`, ...).
    pub fn identity_field(&self) -> &'static str {
        match self {
            Self::A { .. } => "a.address",
            Self::Aaaa { .. } => "aaaa.address",
            Self::Cname { .. } => "cname.target",
            Self::Txt { .. } => "txt.text",
            Self::Ns { .. } => "ns.host",
            Self::Mx { .. } => "mx",
            Self::Srv { .. } => "srv",
            Self::Caa { .. } => "caa",
        }
    }

    /// The data of a record hickory-proto parsed from a zone file, checked
    /// like the API's; the error names the part that is wrong.
    pub fn from_hickory(rdata: &RData) -> Result<Self, String> {
        Ok(match rdata {
            RData::A(a) => Self::A { address: a.0 },
            RData::AAAA(a) => Self::Aaaa { address: a.0 },
            RData::CNAME(c) => Self::Cname {
                target: dnsname::target_name(&c.0.to_ascii())
                    .map_err(|e| format!("CNAME target {e}"))?,
            },
            RData::NS(n) => Self::Ns {
                host: dnsname::hostname(&n.0.to_ascii()).map_err(|e| format!("NS host {e}"))?,
            },
            RData::MX(mx) => Self::Mx {
                preference: mx.preference,
                exchange: mx_exchange(&mx.exchange.to_ascii(), mx.preference)
                    .map_err(|e| format!("MX exchange {e}"))?,
            },
            RData::SRV(srv) => Self::Srv {
                priority: srv.priority,
                weight: srv.weight,
                port: srv.port,
                target: srv_target(&srv.target.to_ascii())
                    .map_err(|e| format!("SRV target {e}"))?,
            },
            RData::TXT(txt) => {
                let bytes: Vec<u8> = txt
                    .txt_data
                    .iter()
                    .flat_map(|c| c.iter().copied())
                    .collect();
                let text =
                    String::from_utf8(bytes).map_err(|_| "TXT text is not UTF-8".to_string())?;
                Self::Txt {
                    text: txt_text(&text).map_err(|e| format!("TXT text {e}"))?,
                }
            }
            RData::CAA(c) => {
                let flags =
                    caa_flags(i32::from(c.flags())).map_err(|e| format!("CAA flags {e}"))?;
                let tag = caa_tag(&c.tag).map_err(|e| format!("CAA tag {e}"))?;
                let value = String::from_utf8(c.value.clone())
                    .map_err(|_| "CAA value is not UTF-8".to_string())?;
                let value = caa_value(&tag, &value).map_err(|e| format!("CAA value {e}"))?;
                Self::Caa { flags, tag, value }
            }
            other => {
                return Err(format!(
                    "record type {} is not supported: use {}",
                    other.record_type(),
                    RecordType::ALL.map(RecordType::as_str).join(", ")
                ));
            }
        })
    }
}

/// A TXT text split into character-strings of at most 255 bytes, never
/// inside a UTF-8 sequence.
pub fn txt_chunks(text: &str) -> Vec<&str> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        if i + c.len_utf8() - start > TXT_CHUNK {
            chunks.push(&text[start..end]);
            start = end;
        }
        end = i + c.len_utf8();
    }
    if start < text.len() || chunks.is_empty() {
        chunks.push(&text[start..]);
    }
    chunks
}

/// `"text"` with `"` and `\` escaped.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A TTL: 0 for the default (`None`), else 30 to 604800 seconds.
pub fn ttl(seconds: i32) -> Result<Option<i32>, String> {
    match seconds {
        0 => Ok(None),
        MIN_TTL..=MAX_TTL => Ok(Some(seconds)),
        _ => Err(format!(
            "must be {MIN_TTL} to {MAX_TTL} seconds (0 for the zone's default)"
        )),
    }
}

/// A 16-bit field (MX preference, SRV priority, weight and port).
pub fn u16_field(value: i32) -> Result<u16, String> {
    u16::try_from(value).map_err(|_| "must be 0 to 65535".to_string())
}

/// A dotted-quad IPv4 address.
pub fn ipv4(text: &str) -> Result<Ipv4Addr, String> {
    if text.is_empty() {
        return Err("is required".into());
    }
    text.parse().map_err(|_| {
        format!(
            "{} is not an IPv4 address such as 192.0.2.1",
            loopback_runtime::errors::quote(text)
        )
    })
}

/// An IPv6 address.
pub fn ipv6(text: &str) -> Result<Ipv6Addr, String> {
    if text.is_empty() {
        return Err("is required".into());
    }
    text.parse().map_err(|_| {
        format!(
            "{} is not an IPv6 address such as 2001:db8::1",
            loopback_runtime::errors::quote(text)
        )
    })
}

/// An MX exchange: a hostname, or `.` (null MX) with preference 0.
pub fn mx_exchange(text: &str, preference: u16) -> Result<String, String> {
    if text.trim() == "." {
        return if preference == 0 {
            Ok(".".into())
        } else {
            Err("`.` (a null MX) needs preference 0".into())
        };
    }
    dnsname::hostname(text)
}

/// An SRV target: a hostname, or `.` for "not offered".
pub fn srv_target(text: &str) -> Result<String, String> {
    if text.trim() == "." {
        return Ok(".".into());
    }
    dnsname::hostname(text)
}

/// TXT text: 1 to 4000 bytes, no control characters.
pub fn txt_text(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    if text.len() > MAX_TXT_BYTES {
        return Err(format!("is {} bytes; at most {MAX_TXT_BYTES}", text.len()));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters (tabs, line breaks, ...)".into());
    }
    Ok(text.to_string())
}

/// CAA flags: 0, or 128 (issuer critical).
pub fn caa_flags(flags: i32) -> Result<u8, String> {
    match flags {
        0 => Ok(0),
        128 => Ok(128),
        _ => Err("must be 0 or 128 (issuer critical)".into()),
    }
}

/// The CAA property tags dns accepts (RFC 8659 and its registry).
pub const CAA_TAGS: &[&str] = &[
    "issue",
    "issuewild",
    "iodef",
    "contactemail",
    "contactphone",
    "issuevmc",
    "issuemail",
];

/// A CAA tag, lower case.
pub fn caa_tag(tag: &str) -> Result<String, String> {
    let lower = tag.to_ascii_lowercase();
    if CAA_TAGS.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err(format!(
            "{} is not a CAA tag: use one of {}",
            loopback_runtime::errors::quote(tag),
            CAA_TAGS.join(", ")
        ))
    }
}

/// A CAA value for `tag` (already checked): issuer values parsed by
/// hickory-proto's RFC 8659 reader, iodef URLs by its URL reader.
pub fn caa_value(tag: &str, value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("is required".into());
    }
    if value.chars().count() > MAX_CAA_VALUE {
        return Err(format!("is longer than {MAX_CAA_VALUE} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    match tag {
        "issue" | "issuewild" | "issuevmc" | "issuemail" => {
            caa::read_issuer(value.as_bytes()).map_err(|e| {
                format!("is not an issuer domain with optional `; key=value` parameters: {e}")
            })?;
        }
        "iodef" => {
            let url =
                caa::read_iodef(value.as_bytes()).map_err(|e| format!("is not a URL: {e}"))?;
            if !matches!(url.scheme(), "mailto" | "http" | "https") {
                return Err("must be a mailto:, http: or https: URL".into());
            }
        }
        "contactemail" => {
            let ok = value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !value.contains(char::is_whitespace)
            });
            if !ok {
                return Err("must be an email address".into());
            }
        }
        "contactphone" => {
            let ok = value
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
                && value.chars().filter(char::is_ascii_digit).count() >= 5;
            if !ok {
                return Err("must be a phone number such as +1 555 0100".into());
            }
        }
        _ => {}
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_is_chunked_at_255_bytes_on_character_boundaries() {
        assert_eq!(txt_chunks("short"), ["short"]);
        let long = "a".repeat(600);
        let chunks = txt_chunks(&long);
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [255, 255, 90]
        );
        let wide = "é".repeat(200); // 400 bytes, 2 each
        let chunks = txt_chunks(&wide);
        assert!(chunks.iter().all(|c| c.len() <= 255));
        assert_eq!(chunks.concat(), wide);
        let data = RecordData::Txt {
            text: "say \"hi\" \\o/".into(),
        };
        assert_eq!(data.presentation(), r#""say \"hi\" \\o/""#);
    }

    #[test]
    fn field_checks() {
        assert_eq!(ttl(0), Ok(None));
        assert_eq!(ttl(300), Ok(Some(300)));
        assert!(ttl(29).is_err() && ttl(604_801).is_err() && ttl(-1).is_err());
        assert!(u16_field(65_536).is_err() && u16_field(-1).is_err());
        assert!(ipv4("192.0.2.01").is_err());
        assert!(ipv4("192.0.2.1").is_ok());
        assert!(ipv6("2001:db8::g").is_err());
        assert_eq!(mx_exchange(".", 0), Ok(".".into()));
        assert!(mx_exchange(".", 10).is_err());
        assert!(caa_value("issue", "letsencrypt.org").is_ok());
        assert!(caa_value("issue", ";").is_ok());
        assert!(caa_value("issue", "letsencrypt.org; accounturi=https://x").is_ok());
        assert!(caa_value("issue", "bad domain!").is_err());
        assert!(caa_value("iodef", "mailto:security@example.com").is_ok());
        assert!(caa_value("iodef", "ftp://example.com").is_err());
        assert!(caa_value("iodef", "not a url").is_err());
        assert!(caa_tag("Issue").is_ok() && caa_tag("foo").is_err());
    }
}
