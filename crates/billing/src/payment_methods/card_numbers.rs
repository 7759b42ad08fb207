//! Spotting raw card numbers: any Luhn-valid run of 13 to 19 digits
//! (digits may be separated by single spaces or dashes, as people type them).
//! Requests carrying one are refused, and the value is never echoed, logged
//! or stored.

/// True when `text` contains something that looks like a card number.
pub fn contains_card_number(text: &str) -> bool {
    let mut digits: Vec<u8> = Vec::new();
    let mut last_was_separator = false;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            digits.push(d as u8);
            last_was_separator = false;
        } else if (c == ' ' || c == '-') && !digits.is_empty() && !last_was_separator {
            last_was_separator = true;
        } else {
            if run_has_card_number(&digits) {
                return true;
            }
            digits.clear();
            last_was_separator = false;
        }
    }
    run_has_card_number(&digits)
}

/// True when a whole run of 13 to 19 digits passes Luhn. (Windows inside a
/// longer run are not card numbers: about one in ten digit strings would
/// pass somewhere.)
fn run_has_card_number(digits: &[u8]) -> bool {
    (13..=19).contains(&digits.len()) && luhn(digits)
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_card_numbers_however_written() {
        for text in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "tok_4111111111111111",
            "card 5500005555555559 please",
            "378282246310005",
        ] {
            assert!(contains_card_number(text), "{text}");
        }
    }

    #[test]
    fn ignores_what_is_not_a_card_number() {
        for text in [
            "4111111111111112",
            "tok_1A2b3C",
            "123456789012",
            "DE89370400440532013000",
            "2026-11-30",
            "",
        ] {
            assert!(!contains_card_number(text), "{text}");
        }
    }
}
