//! Terraform identifiers from display names.
//!
//! A resource address (`okta_group.engineering`) is what people read in plans and
//! reviews, so it comes from the display name, not from Okta's id. Names are folded to
//! ASCII (Terraform accepts Unicode identifiers, but many tools that read `.tf` files do
//! not), made unique per resource type, and depend only on the org's content: the same
//! org exported twice gets the same addresses, whatever order its resources were read in.

use std::collections::{BTreeMap, BTreeSet};

/// A Terraform identifier for a display name.
///
/// Terraform names start with a letter or underscore and contain letters, digits,
/// underscores and hyphens. We lowercase, fold accented Latin letters to ASCII (`ë` to
/// `e`, `ß` to `ss`), drop apostrophes (`Zoë's` reads `zoes`), spell other letters as
/// their code point (`u4e2d`) so distinct names stay distinct, turn every run of other
/// characters into one underscore, prefix `_` when the name would start with a digit,
/// and use `unnamed` when nothing is left. The result depends on the name alone.
pub fn terraform_identifier(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_sep = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            let mut buf = [0u8; 4];
            push_word(&mut out, &mut pending_sep, c.encode_utf8(&mut buf));
        } else if matches!(c, '\'' | '\u{2019}' | '\u{02bc}' | '`') {
            // An apostrophe joins the word it sits in: "Zoë's" is one word.
        } else if let Some(folded) = fold_latin(c) {
            push_word(&mut out, &mut pending_sep, folded);
        } else if c.is_alphanumeric() {
            // A letter we cannot fold: its code point, as a word of its own.
            pending_sep = true;
            push_word(&mut out, &mut pending_sep, &format!("u{:x}", u32::from(c)));
            pending_sep = true;
        } else {
            pending_sep = true;
        }
    }
    if out.is_empty() {
        return "unnamed".to_owned();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn push_word(out: &mut String, pending_sep: &mut bool, text: &str) {
    if *pending_sep && !out.is_empty() {
        out.push('_');
    }
    *pending_sep = false;
    out.push_str(text);
}

/// The ASCII spelling of a lowercase accented Latin letter.
fn fold_latin(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

/// Unique names for one resource type: each `(display name, id)` gets an identifier.
///
/// The resource with the smallest id keeps the plain identifier; the others sharing it
/// get `_2`, `_3`... in id order, skipping any suffix another name already owns. Only the
/// set of pairs matters, not the order they come in, so repeated exports agree.
pub fn unique_identifiers<'a>(
    items: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, String> {
    let mut by_base: BTreeMap<String, BTreeSet<&'a str>> = BTreeMap::new();
    for (name, id) in items {
        by_base
            .entry(terraform_identifier(name))
            .or_default()
            .insert(id);
    }
    // Plain identifiers are claimed first, so a group literally called "Ops 2" keeps
    // `ops_2` even when two groups called "Ops" need a suffix.
    let mut taken: BTreeSet<String> = by_base.keys().cloned().collect();
    let mut out = BTreeMap::new();
    for (base, ids) in &by_base {
        let mut ids = ids.iter();
        if let Some(first) = ids.next() {
            out.insert((*first).to_owned(), base.clone());
        }
        let mut n = 2u64;
        for id in ids {
            let name = loop {
                let candidate = format!("{base}_{n}");
                n += 1;
                if taken.insert(candidate.clone()) {
                    break candidate;
                }
            };
            out.insert((*id).to_owned(), name);
        }
    }
    out
}

/// Whether `name` is a valid Terraform identifier of the kind this module makes.
pub fn is_valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn identifiers_are_readable() {
        for (name, id) in [
            ("Everyone", "everyone"),
            ("  Sales -- West  ", "sales_west"),
            ("Zoë's group", "zoes_group"),
            ("Équipe Française", "equipe_francaise"),
            ("Straße", "strasse"),
            ("Engineering Team (EU)", "engineering_team_eu"),
            ("2FA Policy", "_2fa_policy"),
            ("中文", "u4e2d_u6587"),
            ("123", "_123"),
            ("", "unnamed"),
            ("!!!", "unnamed"),
        ] {
            assert_eq!(terraform_identifier(name), id, "{name:?}");
            assert!(is_valid_identifier(&terraform_identifier(name)));
        }
    }

    #[test]
    fn collisions_get_suffixes_in_id_order_and_respect_existing_names() {
        let names = unique_identifiers([
            ("Ops", "00g3"),
            ("ops", "00g1"),
            ("Ops 2", "00g2"),
            ("OPS", "00g4"),
        ]);
        assert_eq!(names["00g1"], "ops");
        assert_eq!(names["00g2"], "ops_2");
        assert_eq!(names["00g3"], "ops_3");
        assert_eq!(names["00g4"], "ops_4");
    }

    proptest! {
        #[test]
        fn identifiers_are_always_valid(name in "\\PC{0,40}") {
            prop_assert!(is_valid_identifier(&terraform_identifier(&name)));
        }

        #[test]
        fn names_are_unique_valid_and_independent_of_order(
            names in proptest::collection::vec("[A-Za-zëß _2-]{0,6}", 1..40),
            seed in any::<u64>(),
        ) {
            let items: Vec<(String, String)> = names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), format!("id{i:03}")))
                .collect();
            let forward = unique_identifiers(items.iter().map(|(n, i)| (n.as_str(), i.as_str())));
            let mut shuffled = items.clone();
            // A deterministic shuffle from the seed: rotate and reverse.
            let len = shuffled.len();
            shuffled.rotate_left(usize::try_from(seed % len as u64).unwrap_or(0));
            if seed % 2 == 0 {
                shuffled.reverse();
            }
            let again = unique_identifiers(shuffled.iter().map(|(n, i)| (n.as_str(), i.as_str())));
            prop_assert_eq!(&forward, &again);
            let distinct: BTreeSet<&String> = forward.values().collect();
            prop_assert_eq!(distinct.len(), items.len());
            for name in forward.values() {
                prop_assert!(is_valid_identifier(name), "{}", name);
            }
        }
    }
}
