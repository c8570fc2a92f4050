//! Every UI string exists in English and Spanish: the two tables have the
//! same keys, and every key the panel's sources and templates use (string
//! literals `"group.name"` whose group is a UI group) is in them, as are the
//! labels of every enum value the pages show.

use std::collections::BTreeSet;
use std::path::Path;

use parla_admin_core::domain::{CallStatus, Direction, TenantStatus, UserStatus};
use parla_admin_web::panel::i18n::{Lang, Tr};

fn keys(lang: Lang) -> BTreeSet<&'static str> {
    lang.table().iter().map(|(k, _)| *k).collect()
}

/// Every `"group.name"` literal in `dir` (recursively) with a UI group.
fn used_keys(dir: &Path, groups: &BTreeSet<&str>, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            used_keys(&path, groups, out);
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for literal in text.split('"').skip(1).step_by(2) {
            let Some((group, name)) = literal.split_once('.') else {
                continue;
            };
            let is_key = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            // Asset file names (`live.js`) look like keys of a group.
            let is_asset = ["js", "css", "svg", "png"].contains(&name);
            if is_key && !is_asset && groups.contains(group) {
                out.insert(literal.to_owned());
            }
        }
    }
}

#[test]
fn english_and_spanish_have_the_same_keys() {
    let (en, es) = (keys(Lang::En), keys(Lang::Es));
    assert!(en.len() > 200, "{} keys", en.len());
    let only_en: Vec<_> = en.difference(&es).collect();
    let only_es: Vec<_> = es.difference(&en).collect();
    assert!(only_en.is_empty(), "missing in Spanish: {only_en:?}");
    assert!(only_es.is_empty(), "missing in English: {only_es:?}");
    // Translated, not copied: most texts differ between the languages
    // (compared key by key: the tables may list keys in any order).
    let spanish: std::collections::BTreeMap<&str, &str> =
        Lang::Es.table().iter().copied().collect();
    let same = Lang::En
        .table()
        .iter()
        .filter(|(key, text)| spanish.get(key) == Some(text))
        .count();
    assert!(
        same * 10 < en.len(),
        "{same} texts are identical in both languages"
    );
}

#[test]
fn every_used_key_exists() {
    let en = keys(Lang::En);
    let groups: BTreeSet<&str> = en
        .iter()
        .filter_map(|k| k.split_once('.'))
        .map(|(g, _)| g)
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut used = BTreeSet::new();
    used_keys(&root.join("src/panel"), &groups, &mut used);
    used_keys(&root.join("templates/panel"), &groups, &mut used);
    assert!(
        used.len() > 150,
        "only {} keys found in the sources",
        used.len()
    );
    let missing: Vec<_> = used.iter().filter(|k| !en.contains(k.as_str())).collect();
    assert!(missing.is_empty(), "keys used but not defined: {missing:?}");
}

#[test]
fn every_enum_value_has_a_label() {
    let groups: [(&str, Vec<&'static str>); 4] = [
        (
            "status",
            CallStatus::ALL.iter().map(|v| v.as_str()).collect(),
        ),
        (
            "direction",
            Direction::ALL.iter().map(|v| v.as_str()).collect(),
        ),
        (
            "user_status",
            UserStatus::ALL.iter().map(|v| v.as_str()).collect(),
        ),
        (
            "tenant_status",
            TenantStatus::ALL.iter().map(|v| v.as_str()).collect(),
        ),
    ];
    for lang in Lang::ALL {
        let tr = Tr(lang);
        for (group, values) in &groups {
            for v in values {
                assert_ne!(tr.value(group, v), *v, "{lang:?}: no label for {group}.{v}");
            }
        }
        for role in ["admin", "agent"] {
            assert_ne!(tr.value("role", role), role);
        }
    }
}
