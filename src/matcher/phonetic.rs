//! Phonetic codes for blocking: American Soundex over folded ASCII names, so that spellings
//! that sound alike (`smith`, `smyth`) share a blocking key. Pure; must never allocate per
//! call beyond the fixed-size code.

/// The four-character American Soundex code of `name` (a normalised, folded name), or `None`
/// when it has no ASCII letter. `robert` and `rupert` give `R163`.
pub fn soundex(name: &str) -> Option<[u8; 4]> {
    let mut letters = name.bytes().filter(u8::is_ascii_alphabetic);
    let first = letters.next()?.to_ascii_uppercase();
    let mut code = [b'0'; 4];
    code[0] = first;
    let mut len = 1;
    let mut last = digit(first);
    for b in letters {
        let b = b.to_ascii_uppercase();
        let d = digit(b);
        match d {
            // h and w do not separate letters with the same code.
            None if b == b'H' || b == b'W' => continue,
            None => last = None,
            Some(d) if Some(d) != last => {
                if let Some(slot) = code.get_mut(len) {
                    *slot = d;
                }
                len += 1;
                last = Some(d);
                if len == 4 {
                    break;
                }
            }
            Some(_) => {}
        }
    }
    Some(code)
}

fn digit(b: u8) -> Option<u8> {
    Some(match b {
        b'B' | b'F' | b'P' | b'V' => b'1',
        b'C' | b'G' | b'J' | b'K' | b'Q' | b'S' | b'X' | b'Z' => b'2',
        b'D' | b'T' => b'3',
        b'L' => b'4',
        b'M' | b'N' => b'5',
        b'R' => b'6',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> String {
        String::from_utf8(soundex(s).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn classic_soundex_codes() {
        assert_eq!(code("robert"), "R163");
        assert_eq!(code("rupert"), "R163");
        assert_eq!(code("ashcraft"), "A261");
        assert_eq!(code("tymczak"), "T522");
        assert_eq!(code("pfister"), "P236");
        assert_eq!(code("lee"), "L000");
        assert_eq!(code("smith"), code("smyth"));
        assert_eq!(soundex("123"), None);
    }
}
