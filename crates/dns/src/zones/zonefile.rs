//! RFC 1035 master files: reading one for ImportZone and writing the
//! generated head (SOA, NS) for ExportZone. Records are parsed by
//! hickory-proto's zone-file parser; this module only splits the file into
//! its entries (so every error names its line: the parser itself reports
//! none) and carries `$ORIGIN`, `$TTL` and the previous owner name from one
//! entry to the next, as RFC 1035 §5.1 says. `$INCLUDE` is refused (a file
//! sent over the API must not reach the server's disk).

use hickory_proto::rr::{DNSClass, Name, RecordType as WireType};
use hickory_proto::serialize::txt::{Parser, parse_ttl};
use loopback_runtime::errors::FieldViolations;

use crate::dnsname;
use crate::records::data::{self, RecordData};

/// The largest zone file ImportZone takes, in bytes.
pub const MAX_ZONE_FILE_BYTES: usize = 4 * 1024 * 1024;
/// SOA timers of every zone: refresh, retry, expire, minimum (negative
/// caching TTL), in seconds.
pub const SOA_TIMERS: (u32, u32, u32, u32) = (3600, 600, 1_209_600, 300);
/// TTL of the generated SOA and NS records.
pub const APEX_TTL: u32 = 3600;

/// A record read from a zone file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// The line its entry starts on (1-based).
    pub line: usize,
    /// Owner, canonical.
    pub owner: String,
    /// TTL in seconds.
    pub ttl: i32,
    /// Data.
    pub data: RecordData,
}

/// One entry of a master file: a directive or a record, possibly spanning
/// lines in parentheses; comments removed.
#[derive(Debug)]
struct Entry {
    line: usize,
    text: String,
}

/// Splits a master file into entries (RFC 1035 §5.1: line-oriented,
/// parentheses continue an entry, `;` starts a comment outside quotes).
fn entries(text: &str) -> Result<Vec<Entry>, (usize, String)> {
    let mut out = Vec::new();
    let (mut cur, mut start, mut line) = (String::new(), 1, 1);
    let (mut depth, mut quoted, mut comment, mut escaped, mut content) =
        (0_u32, false, false, false, false);
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        if comment {
            if c != '\n' {
                continue;
            }
            comment = false;
        } else if escaped {
            escaped = false;
            cur.push(c);
            continue;
        } else if quoted {
            cur.push(c);
            match c {
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            ';' => comment = true,
            '\\' => {
                escaped = true;
                content = true;
                cur.push(c);
            }
            '"' => {
                quoted = true;
                content = true;
                cur.push(c);
            }
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                if depth == 0 {
                    return Err((line, "`)` without a matching `(`".into()));
                }
                depth -= 1;
                cur.push(c);
            }
            '\n' if depth > 0 => cur.push(' '),
            '\n' => {
                if content {
                    out.push(Entry {
                        line: start,
                        text: std::mem::take(&mut cur),
                    });
                }
                cur.clear();
                content = false;
                start = line;
            }
            '\r' => {}
            c => {
                content |= !c.is_whitespace();
                cur.push(c);
            }
        }
    }
    if quoted {
        return Err((start, "a quoted string is not closed".into()));
    }
    if depth > 0 {
        return Err((start, "a `(` is not closed".into()));
    }
    if content {
        out.push(Entry {
            line: start,
            text: cur,
        });
    }
    Ok(out)
}

/// Whether `text` holds a `\DDD` escape (hickory-proto decodes them
/// wrongly, so they are refused rather than mis-read).
fn has_decimal_escape(text: &str) -> bool {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(d) if d.is_ascii_digit() => return true,
                _ => {}
            }
        }
    }
    false
}

/// What a zone file's entries carry from one to the next.
struct Context {
    origin: Name,
    dollar_ttl: Option<u32>,
    last_ttl: Option<u32>,
    last_owner: Option<String>,
}

/// Reads a master file for the zone `apex` (canonical, with the dot):
/// every record parsed and checked like the API's, the SOA and the apex NS
/// records skipped (Loopback generates them). Records without a TTL take
/// `$TTL`, else the previous record's, else `default_ttl`. The violations
/// all name `zone_file`, each description starting with its line.
pub fn parse(text: &str, apex: &str, default_ttl: i32) -> (Vec<FileRecord>, FieldViolations) {
    let mut v = FieldViolations::new();
    let mut bad =
        |line: usize, message: String| v.add("zone_file", format!("line {line}: {message}"));
    let entries = match entries(text) {
        Ok(entries) => entries,
        Err((line, message)) => {
            bad(line, message);
            return (Vec::new(), v);
        }
    };
    let Some(origin) = dnsname::to_hickory(apex) else {
        bad(1, format!("{apex} is not a DNS name"));
        return (Vec::new(), v);
    };
    let mut cx = Context {
        origin,
        dollar_ttl: None,
        last_ttl: None,
        last_owner: None,
    };
    let mut out = Vec::new();
    for entry in entries {
        match read_entry(&entry, &mut cx, apex, default_ttl) {
            Ok(Some(record)) => out.push(record),
            Ok(None) => {}
            Err(message) => bad(entry.line, message),
        }
    }
    (out, v)
}

/// One entry: a directive (`None`), a record to import, or what is wrong.
fn read_entry(
    entry: &Entry,
    cx: &mut Context,
    apex: &str,
    default_ttl: i32,
) -> Result<Option<FileRecord>, String> {
    let trimmed = entry.text.trim_start();
    if let Some(directive) = trimmed.strip_prefix('$') {
        let mut words = directive.split_whitespace();
        let keyword = words.next().unwrap_or_default().to_ascii_uppercase();
        let argument = words.next();
        return match (keyword.as_str(), argument) {
            ("ORIGIN", Some(name)) => {
                cx.origin = Name::parse(name, Some(&cx.origin))
                    .map_err(|e| format!("$ORIGIN {name}: {e}"))?;
                Ok(None)
            }
            ("TTL", Some(ttl)) => {
                cx.dollar_ttl = Some(parse_ttl(ttl).map_err(|e| format!("$TTL: {e}"))?);
                Ok(None)
            }
            ("INCLUDE", _) => {
                Err("$INCLUDE is not accepted: put the included records in the file".into())
            }
            (other, _) => Err(format!(
                "${other} needs one argument ($ORIGIN name or $TTL seconds)"
            )),
        };
    }
    if has_decimal_escape(&entry.text) {
        return Err(
            "\\DDD escapes are not supported: write the characters themselves (UTF-8)".into(),
        );
    }
    let inherits_owner = entry.text.starts_with([' ', '\t']);
    let text = if inherits_owner {
        let owner = cx
            .last_owner
            .as_deref()
            .ok_or("the first record must name its owner")?;
        format!("{owner}{}", entry.text)
    } else {
        entry.text.clone()
    };
    let fallback_ttl = cx
        .dollar_ttl
        .or(cx.last_ttl)
        .unwrap_or(u32::try_from(default_ttl).unwrap_or(300));
    let mini = format!("$TTL {fallback_ttl}\n{text}\n");
    let (_, sets) = Parser::new(mini, None, Some(cx.origin.clone()))
        .parse()
        .map_err(|e| e.to_string())?;
    let record = sets
        .values()
        .flat_map(|set| set.records_without_rrsigs())
        .next()
        .ok_or("holds no record")?;
    let owner_ascii = record.name.to_ascii();
    cx.last_owner = Some(owner_ascii.clone());
    if cx.dollar_ttl.is_none() {
        cx.last_ttl = Some(record.ttl);
    }
    if record.dns_class != DNSClass::IN {
        return Err(format!(
            "class {} is not supported: only IN",
            record.dns_class
        ));
    }
    let owner = dnsname::owner_name(&owner_ascii, apex)?;
    match record.record_type() {
        WireType::SOA if owner == apex => return Ok(None),
        WireType::SOA => return Err("an SOA record can only be at the zone apex".into()),
        WireType::NS if owner == apex => return Ok(None),
        _ => {}
    }
    let ttl = i32::try_from(record.ttl)
        .ok()
        .and_then(|t| data::ttl(t).ok().flatten())
        .ok_or_else(|| {
            format!(
                "TTL {} must be {} to {} seconds",
                record.ttl,
                data::MIN_TTL,
                data::MAX_TTL
            )
        })?;
    let data = RecordData::from_hickory(&record.data)?;
    Ok(Some(FileRecord {
        line: entry.line,
        owner,
        ttl,
        data,
    }))
}

/// The generated head of a zone's master file: `$ORIGIN`, the SOA and the
/// apex NS records.
pub fn head(
    apex: &str,
    serial: u32,
    nameservers: &[String],
    hostmaster: &str,
    comment: &str,
) -> String {
    let (refresh, retry, expire, minimum) = SOA_TIMERS;
    let primary = nameservers.first().map_or(".", String::as_str);
    let mut out = format!(
        "; {comment}\n$ORIGIN {apex}\n{apex}\t{APEX_TTL}\tIN\tSOA\t{primary} {hostmaster} {serial} {refresh} {retry} {expire} {minimum}\n"
    );
    for ns in nameservers {
        out.push_str(&format!("{apex}\t{APEX_TTL}\tIN\tNS\t{ns}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(result: (Vec<FileRecord>, FieldViolations)) -> Vec<FileRecord> {
        assert!(result.1.is_empty(), "{:?}", result.1);
        result.0
    }

    fn lines(result: (Vec<FileRecord>, FieldViolations)) -> Vec<String> {
        assert!(!result.1.is_empty(), "refused");
        result
            .1
            .violations()
            .iter()
            .map(|v| {
                assert_eq!(v.field, "zone_file");
                v.description.clone()
            })
            .collect()
    }

    #[test]
    fn reads_records_with_origin_ttl_and_inherited_owners() {
        let file = "$ORIGIN example.com.\n$TTL 600\n@ IN SOA ns1.x.net. h.x.net. 1 2 3 4 5\n\
                    @ IN NS ns1.x.net.\nwww IN A 192.0.2.1\n    IN AAAA 2001:db8::1\n\
                    mail 300 IN MX ( 10 ; preference\n  mx1.example.com. )\n\
                    txt IN TXT \"a;b\" \"c\\\"d\"\n";
        let records = ok(parse(file, "example.com.", 300));
        assert_eq!(records.len(), 4);
        assert_eq!(records[0].owner, "www.example.com.");
        assert_eq!(records[0].ttl, 600);
        assert_eq!(records[1].owner, "www.example.com.");
        assert_eq!(records[1].line, 6);
        assert_eq!(records[2].ttl, 300);
        assert_eq!(records[2].line, 7);
        assert_eq!(
            records[3].data,
            RecordData::Txt {
                text: "a;bc\"d".into()
            }
        );
    }

    #[test]
    fn errors_name_their_line() {
        let file = "www.example.com. 300 IN A 192.0.2.1\n\nbad.example.com. 300 IN A 999.1.1.1\n";
        let found = lines(parse(file, "example.com.", 300));
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("line 3: "), "{found:?}");
        let file = "www.example.org. 300 IN A 192.0.2.1\n$INCLUDE /etc/passwd\nx.example.com. 300 IN PTR a.example.com.\n";
        let found = lines(parse(file, "example.com.", 300));
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("line 1: ") && found[0].contains("outside"));
        assert!(found[1].starts_with("line 2: ") && found[1].contains("$INCLUDE"));
        assert!(found[2].starts_with("line 3: ") && found[2].contains("not supported"));
        let found = lines(parse(
            "a.example.com. 300 IN TXT \"open\n",
            "example.com.",
            300,
        ));
        assert!(found[0].starts_with("line 1: "));
        let found = lines(parse(
            "a.example.com. 300 IN TXT \"\\065\"\n",
            "example.com.",
            300,
        ));
        assert!(found[0].contains("DDD"));
    }
}
