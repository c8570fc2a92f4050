//! Voicemail phrases in interim transcripts.
//!
//! The recognizer's interim text of the answering party is normalised
//! (lowercase ASCII letters and digits; apostrophes dropped, so "can't" is
//! "cant"; everything else a word break) and searched for whole-word
//! phrases that greetings of answering machines and carrier announcements
//! use and people answering a call hardly ever say first
//! ([`DEFAULT_MACHINE_PHRASES`]). Greetings like "you've reached …" are left
//! out on purpose: receptionists say them too.

/// Phrases (already normalised: lowercase, no apostrophes, single spaces)
/// that mark an answering machine or a carrier announcement.
pub const DEFAULT_MACHINE_PHRASES: &[&str] = &[
    "leave a message",
    "leave me a message",
    "leave your message",
    "leave your name",
    "leave a voicemail",
    "not available",
    "unavailable",
    "after the tone",
    "after the beep",
    "at the tone",
    "at the beep",
    "record your message",
    "voicemail",
    "voice mail",
    "mailbox",
    "cant come to the phone",
    "cant take your call",
    "cannot take your call",
    "try again later",
    "not in service",
    "the person you are calling",
    "the number you have dialed",
    "automatic voice message",
];

/// Longest transcript examined, in bytes; the rest is ignored (interim
/// transcripts of the first seconds are short).
pub const MAX_TRANSCRIPT_BYTES: usize = 4_096;

/// Normalises `text` into `out` (cleared first) as described in the
/// [module docs](self), with a leading and trailing space so that phrases
/// match as `" phrase "`. Grows `out` at most to
/// [`MAX_TRANSCRIPT_BYTES`] + 2.
pub fn normalise_into(text: &str, out: &mut String) {
    out.clear();
    out.push(' ');
    let mut end = text.len().min(MAX_TRANSCRIPT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    for c in text[..end].chars() {
        if c == '\'' || c == '\u{2019}' {
            continue;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
}

/// The first of `phrases` found as whole words in `text`, using `scratch`
/// as the normalisation buffer (reused across calls). Phrases must already
/// be normalised; an empty phrase never matches.
pub fn find_phrase(
    text: &str,
    phrases: &'static [&'static str],
    scratch: &mut String,
) -> Option<&'static str> {
    normalise_into(text, scratch);
    phrases.iter().copied().find(|p| {
        !p.is_empty()
            && scratch.match_indices(p).any(|(i, _)| {
                let before = scratch.as_bytes().get(i.wrapping_sub(1)) == Some(&b' ');
                let after = scratch.as_bytes().get(i + p.len()) == Some(&b' ');
                before && after
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Option<&'static str> {
        find_phrase(text, DEFAULT_MACHINE_PHRASES, &mut String::new())
    }

    #[test]
    fn voicemail_greetings_match() {
        assert_eq!(
            find("Hi, you've reached Sarah. Please LEAVE a message after the tone."),
            Some("leave a message")
        );
        assert_eq!(
            find("The person you are calling is not available"),
            Some("not available")
        );
        assert_eq!(
            find("sorry I can’t come to the phone"),
            Some("cant come to the phone")
        );
        assert_eq!(find("...after-the-beep!"), Some("after the beep"));
        assert_eq!(find("VOICEMAIL"), Some("voicemail"));
    }

    #[test]
    fn human_answers_do_not_match() {
        for t in [
            "Hello?",
            "Hi, this is Maria.",
            "Hello, who is this?",
            "yes speaking",
            "you've reached Acme, Maria speaking",
            "the tone was weird",
            "",
        ] {
            assert_eq!(find(t), None, "{t}");
        }
    }

    #[test]
    fn phrases_match_whole_words_only() {
        // "unavailable" is a phrase, but not inside "unavailableness"; and
        // "mailbox" is not found in "mailboxes".
        assert_eq!(find("unavailableness"), None);
        assert_eq!(find("two mailboxes"), None);
        assert_eq!(find("my mailbox"), Some("mailbox"));
    }

    #[test]
    fn odd_text_never_panics_and_is_bounded() {
        let mut s = String::new();
        let long = "é".repeat(10_000);
        normalise_into(&long, &mut s);
        assert!(s.len() <= MAX_TRANSCRIPT_BYTES + 2);
        let long = "leave a message ".repeat(1_000);
        assert_eq!(find(&long), Some("leave a message"));
        for t in ["\u{0}", "''''", "  ", "ß🙂 leave\ta\nmessage"] {
            let _ = find_phrase(t, DEFAULT_MACHINE_PHRASES, &mut s);
        }
        assert_eq!(find("ß🙂 leave\ta\nmessage"), Some("leave a message"));
    }
}
