//! Property tests of the `.env` editor: what [`merge`] writes, [`parse`] (Compose's rules)
//! reads back as the same values, for any key and any value (quotes, `$`, `#`,
//! backslashes, newlines, unicode), on a first write and on an update in place.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[^\u{0}]{0,6}",
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("$".to_string()),
        Just("${X}".to_string()),
        Just("$$".to_string()),
        Just(" #".to_string()),
        Just("#".to_string()),
        Just("\\".to_string()),
        Just("\\n".to_string()),
        Just("\n".to_string()),
        Just("\r".to_string()),
        Just(" ".to_string()),
        Just("\t".to_string()),
        Just("\u{a0}".to_string()),
        Just("日本🙂".to_string()),
    ];
    proptest::collection::vec(piece, 0..6).prop_map(|parts| parts.concat())
}

fn values() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map("[A-Za-z_][A-Za-z0-9_]{0,10}", value(), 1..8)
}

/// The last value of every key, as Compose reads the file.
fn read_back(text: &str) -> BTreeMap<String, String> {
    parse(text)
        .unwrap_or_else(|e| panic!("the rendered .env does not parse: {e}"))
        .into_iter()
        .filter_map(|s| Some((s.key, s.value?.expose().clone())))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn render_then_parse_gives_the_same_values(values in values()) {
        let merged = merge(&Redacted::new(String::new()), &BTreeMap::new(), &values, &mut |_| unreachable!()).unwrap();
        let back = read_back(merged.content.expose());
        for (key, want) in &values {
            prop_assert_eq!(back.get(key), Some(want), "{}", merged.content.expose());
        }
    }

    #[test]
    fn updating_in_place_gives_the_new_values(old in values(), new in values()) {
        let first = merge(&Redacted::new(String::new()), &BTreeMap::new(), &old, &mut |_| unreachable!()).unwrap();
        let second = merge(&first.content, &BTreeMap::new(), &new, &mut |_| unreachable!()).unwrap();
        let back = read_back(second.content.expose());
        for (key, want) in &new {
            prop_assert_eq!(back.get(key), Some(want), "{}", second.content.expose());
        }
        for (key, was) in old.iter().filter(|(k, _)| !new.contains_key(*k)) {
            prop_assert_eq!(back.get(key), Some(was), "a key not configured any more is kept");
        }
    }
}
