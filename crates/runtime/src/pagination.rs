//! Opaque keyset page tokens and page-size rules (DESIGN.md §3: default 50,
//! max 1000, never OFFSET).
//!
//! A token carries the sort key of the last item returned and a fingerprint
//! of the request's filters, so a token cannot be replayed against a
//! different query. Tokens are base64url JSON: opaque to clients, easy to
//! debug for us.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Page size when the request says 0.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// Largest page a caller may ask for.
pub const MAX_PAGE_SIZE: u64 = 1000;

/// Why a page request is refused; maps to INVALID_ARGUMENT on the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PageError {
    /// `page_size` below zero or above the maximum.
    #[error("must be between 0 and {MAX_PAGE_SIZE}")]
    PageSize,
    /// `page_token` is not one we issued, or was issued for another query.
    #[error("is not a page token issued for this request")]
    Token,
}

/// One page of a list: the items and the token of the next page (empty on
/// the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Token for the next page; empty on the last page.
    pub next_page_token: String,
}

impl<T> Page<T> {
    /// The same page with every item mapped (e.g. to its wire form).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_page_token: self.next_page_token,
        }
    }
}

/// A validated page request: how many items and after which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Items to return.
    pub size: u64,
    /// Sort key of the last item already returned, if continuing.
    pub after: Option<String>,
    fingerprint: String,
}

#[derive(Serialize, Deserialize)]
struct TokenBody {
    /// Last key.
    k: String,
    /// Query fingerprint.
    f: String,
}

fn fingerprint(query: &str) -> String {
    let digest = Sha256::digest(query.as_bytes());
    hex(&digest[..8])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl PageRequest {
    /// Validates `page_size` and `page_token` for a query described by
    /// `query` (every filter that shapes the result, e.g. parent and flags).
    pub fn parse(
        page_size: i32,
        page_token: &str,
        query: &str,
    ) -> Result<Self, (&'static str, PageError)> {
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n < 0 || n as u64 > MAX_PAGE_SIZE => {
                return Err(("page_size", PageError::PageSize));
            }
            n => n as u64,
        };
        let fingerprint = fingerprint(query);
        let after = if page_token.is_empty() {
            None
        } else {
            let body: TokenBody = URL_SAFE_NO_PAD
                .decode(page_token)
                .ok()
                .and_then(|raw| serde_json::from_slice(&raw).ok())
                .ok_or(("page_token", PageError::Token))?;
            if body.f != fingerprint {
                return Err(("page_token", PageError::Token));
            }
            Some(body.k)
        };
        Ok(Self {
            size,
            after,
            fingerprint,
        })
    }

    /// How many rows to fetch: one more than the page, to know whether
    /// another page follows.
    pub fn fetch_limit(&self) -> u64 {
        self.size + 1
    }

    /// Cuts `rows` (fetched with [`Self::fetch_limit`]) to the page and
    /// returns the next page token (empty on the last page).
    pub fn finish<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> String) -> (Vec<T>, String) {
        if rows.len() as u64 > self.size {
            rows.truncate(self.size as usize);
            let token = rows
                .last()
                .map(|last| self.token_after(&key(last)))
                .unwrap_or_default();
            (rows, token)
        } else {
            (rows, String::new())
        }
    }

    /// Cuts `rows` (fetched with [`Self::fetch_limit`]) to a [`Page`].
    pub fn page<T>(&self, rows: Vec<T>, key: impl Fn(&T) -> String) -> Page<T> {
        let (items, next_page_token) = self.finish(rows, key);
        Page {
            items,
            next_page_token,
        }
    }

    fn token_after(&self, key: &str) -> String {
        let body = TokenBody {
            k: key.to_string(),
            f: self.fingerprint.clone(),
        };
        // Serialising two strings cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_default_and_bounds() {
        assert_eq!(
            PageRequest::parse(0, "", "q").map(|p| p.size),
            Ok(DEFAULT_PAGE_SIZE)
        );
        assert_eq!(PageRequest::parse(1000, "", "q").map(|p| p.size), Ok(1000));
        assert_eq!(
            PageRequest::parse(1001, "", "q").map(|p| p.size),
            Err(("page_size", PageError::PageSize))
        );
        assert_eq!(
            PageRequest::parse(-1, "", "q").map(|p| p.size),
            Err(("page_size", PageError::PageSize))
        );
    }

    #[test]
    fn token_round_trips_and_is_bound_to_its_query() {
        let page = PageRequest::parse(2, "", "parent=a").expect("valid");
        let (rows, token) = page.finish(vec!["1", "2", "3"], |s| s.to_string());
        assert_eq!(rows, ["1", "2"]);
        let next = PageRequest::parse(2, &token, "parent=a").expect("token accepted");
        assert_eq!(next.after.as_deref(), Some("2"));
        assert_eq!(
            PageRequest::parse(2, &token, "parent=b").map(|p| p.size),
            Err(("page_token", PageError::Token))
        );
        assert_eq!(
            PageRequest::parse(2, "garbage!", "parent=a").map(|p| p.size),
            Err(("page_token", PageError::Token))
        );
    }

    #[test]
    fn last_page_has_no_token() {
        let page = PageRequest::parse(5, "", "q").expect("valid");
        let (rows, token) = page.finish(vec![1, 2], |n| n.to_string());
        assert_eq!(rows.len(), 2);
        assert!(token.is_empty());
    }
}
