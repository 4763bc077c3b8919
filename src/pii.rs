//! Masking of personal data for logs. Owns how an e-mail or phone is shown when the
//! `log.mask_pii` setting is on (the default). Pure string functions; must never log.

/// `jane.doe@example.com` → `j***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// `+14155552671` → `+*******2671` (only the last four digits stay).
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    let keep = 4.min(chars.len());
    let head = chars.len() - keep;
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < head && c.is_ascii_digit() {
                '*'
            } else {
                *c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask_email("jane.doe@example.com"), "j***@example.com");
        assert_eq!(mask_email("nonsense"), "***");
        assert_eq!(mask_phone("+14155552671"), "+*******2671");
        assert_eq!(mask_phone("12"), "12");
    }
}
