//! UI strings in English and Spanish. The language comes from the `lang`
//! cookie (the toggle in the header), else from `Accept-Language`, else
//! English. Every key exists in both tables (tested, together with every
//! key the sources and templates use).

use std::collections::HashMap;
use std::sync::OnceLock;

mod en;
mod es;

/// Name of the cookie holding the chosen language (`en` or `es`).
pub const LANG_COOKIE: &str = "lang";

/// A UI language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// English (the default).
    En,
    /// Spanish.
    Es,
}

impl Lang {
    /// Every language.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Es];

    /// The BCP 47 primary tag: `en` or `es`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }

    /// The language of a tag such as `es`, `es-MX`, `EN-gb`.
    pub fn from_code(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "es" => Some(Lang::Es),
            _ => None,
        }
    }

    /// The cookie's language if valid, else the supported language with the
    /// highest `q` in `Accept-Language` (the first one on ties), else
    /// English.
    pub fn negotiate(cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(l) = cookie.and_then(Lang::from_code) {
            return l;
        }
        let mut best: Option<(f32, Lang)> = None;
        for item in accept_language.unwrap_or_default().split(',').take(32) {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::from_code) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .filter(|q| q.is_finite())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    /// The `(key, text)` table of this language.
    pub fn table(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::En => en::STRINGS,
            Lang::Es => es::STRINGS,
        }
    }
}

fn index(lang: Lang) -> &'static HashMap<&'static str, &'static str> {
    static EN: OnceLock<HashMap<&str, &str>> = OnceLock::new();
    static ES: OnceLock<HashMap<&str, &str>> = OnceLock::new();
    let cell = match lang {
        Lang::En => &EN,
        Lang::Es => &ES,
    };
    cell.get_or_init(|| lang.table().iter().copied().collect())
}

/// The UI strings of one language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tr(pub Lang);

impl Tr {
    /// The text of `key`; the English text if the key is missing in this
    /// language, the key itself if missing everywhere (both are test
    /// failures).
    pub fn s(&self, key: &str) -> &'static str {
        index(self.0)
            .get(key)
            .or_else(|| index(Lang::En).get(key))
            .copied()
            .unwrap_or_else(|| {
                tracing::warn!(key, "missing panel UI string");
                "?"
            })
    }

    /// The label of an enum value, e.g. `("status", "no_answer")` →
    /// "No answer"; the raw value if there is none.
    pub fn value(&self, group: &str, value: &'static str) -> &'static str {
        let key = format!("{group}.{value}");
        index(self.0).get(key.as_str()).copied().unwrap_or(value)
    }

    /// `en` or `es`.
    pub fn code(&self) -> &'static str {
        self.0.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(Lang::negotiate(Some("es"), Some("en")), Lang::Es);
        assert_eq!(
            Lang::negotiate(Some("fr"), Some("es-ES,es;q=0.9")),
            Lang::Es
        );
        assert_eq!(
            Lang::negotiate(None, Some("fr-FR, en;q=0.5, es;q=0.8")),
            Lang::Es
        );
        assert_eq!(Lang::negotiate(None, Some("de, en-GB;q=0.9")), Lang::En);
        assert_eq!(Lang::negotiate(None, Some("es;q=0, en;q=0.1")), Lang::En);
        assert_eq!(Lang::negotiate(None, Some(";;;,,q=x")), Lang::En);
        assert_eq!(Lang::negotiate(None, None), Lang::En);
    }

    #[test]
    fn tables_have_the_same_keys_once() {
        for lang in Lang::ALL {
            let mut seen = std::collections::HashSet::new();
            for (k, v) in lang.table() {
                assert!(seen.insert(*k), "{lang:?}: duplicate key {k}");
                assert!(!v.trim().is_empty(), "{lang:?}: empty text for {k}");
            }
        }
        let en: std::collections::BTreeSet<_> = Lang::En.table().iter().map(|(k, _)| *k).collect();
        let es: std::collections::BTreeSet<_> = Lang::Es.table().iter().map(|(k, _)| *k).collect();
        let only_en: Vec<_> = en.difference(&es).collect();
        let only_es: Vec<_> = es.difference(&en).collect();
        assert!(only_en.is_empty(), "missing in Spanish: {only_en:?}");
        assert!(only_es.is_empty(), "missing in English: {only_es:?}");
    }
}
