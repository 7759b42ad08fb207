//! Page tokens bound to the caller as well as to the query: a list whose
//! answer depends on who asks (the caller's organizations, the audit log,
//! limit requests) refuses a token another caller was given. The caller is
//! known only to the domain, so the adapter checks the page size and the
//! domain checks the token once it has resolved the caller.

use loopback_runtime::errors::FieldViolations;
use loopback_runtime::fields::Fields;
use loopback_runtime::pagination::PageRequest;

/// A page request whose token is checked by [`CallerPage::bind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerPage {
    size: i32,
    token: String,
    query: String,
}

impl CallerPage {
    /// The page request for `caller` (its `page_key`): INVALID_ARGUMENT on
    /// `page_token` when the token was issued for another query or caller.
    pub fn bind(self, caller: &str) -> Result<PageRequest, FieldViolations> {
        PageRequest::parse(self.size, &self.token, &format!("{}|{caller}", self.query))
            .map_err(|(field, e)| FieldViolations::single(field, e.to_string()))
    }
}

/// Page size and token of a caller-bound list over `query` (every filter
/// that shapes the result): the size is checked now, the token by
/// [`CallerPage::bind`].
pub fn caller_page(
    f: &mut Fields,
    page_size: i32,
    page_token: &str,
    query: &str,
) -> Option<CallerPage> {
    // The token is not looked at yet: an empty one checks only the size.
    f.page(page_size, "", query).map(|_| CallerPage {
        size: page_size,
        token: page_token.to_string(),
        query: query.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_the_caller() {
        let parse = |token: &str| {
            let mut f = Fields::new();
            let page = caller_page(&mut f, 1, token, "q");
            f.finish(page).expect("valid")
        };
        let first = parse("").bind("account:a").expect("no token");
        let next = first.page(vec![1, 2], |n| n.to_string()).next_page_token;
        let again = parse(&next);
        assert!(again.clone().bind("account:a").is_ok());
        assert_eq!(
            again
                .bind("account:b")
                .expect_err("another caller")
                .violations()[0]
                .field,
            "page_token"
        );
        let mut f = Fields::new();
        assert!(caller_page(&mut f, -1, "", "q").is_none());
        assert!(!f.is_clean());
    }
}
