//! Tolerant transcript comparison: normalization (numbers, contractions,
//! punctuation) and word error rates.

const UNITS: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 8] = [
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

fn expand_contraction(w: &str) -> Option<&'static [&'static str]> {
    Some(match w {
        "i'm" => &["i", "am"],
        "you're" => &["you", "are"],
        "we're" => &["we", "are"],
        "they're" => &["they", "are"],
        "it's" => &["it", "is"],
        "that's" => &["that", "is"],
        "what's" => &["what", "is"],
        "there's" => &["there", "is"],
        "here's" => &["here", "is"],
        "he's" => &["he", "is"],
        "she's" => &["she", "is"],
        "let's" => &["let", "us"],
        "i'll" => &["i", "will"],
        "you'll" => &["you", "will"],
        "we'll" => &["we", "will"],
        "i've" => &["i", "have"],
        "we've" => &["we", "have"],
        "you've" => &["you", "have"],
        "i'd" => &["i", "would"],
        "don't" => &["do", "not"],
        "doesn't" => &["does", "not"],
        "didn't" => &["did", "not"],
        "can't" | "cannot" => &["can", "not"],
        "won't" => &["will", "not"],
        "isn't" => &["is", "not"],
        "aren't" => &["are", "not"],
        "wasn't" => &["was", "not"],
        "couldn't" => &["could", "not"],
        "wouldn't" => &["would", "not"],
        "shouldn't" => &["should", "not"],
        "ok" | "okay" => &["okay"],
        _ => return None,
    })
}

/// Normalizes a transcript into comparable words: lowercase, punctuation
/// stripped, common contractions expanded ("I'm" → "i am"), and numbers
/// written either way made equal ("ten", "10"; "four five six", "456",
/// "4-5-6" all become digit tokens: `["4","5","6"]`).
pub fn normalize(text: &str) -> Vec<String> {
    // Join digit groupings ("1,000") before punctuation goes.
    let chars: Vec<char> = text.chars().collect();
    let mut cleaned = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let between_digits = i > 0
            && i + 1 < chars.len()
            && chars[i - 1].is_ascii_digit()
            && chars[i + 1].is_ascii_digit();
        if c == ',' && between_digits {
            continue;
        }
        let c = if c == '’' { '\'' } else { c };
        if c.is_alphanumeric() || c == '\'' {
            cleaned.extend(c.to_lowercase());
        } else {
            cleaned.push(' ');
        }
    }
    let mut words: Vec<String> = Vec::new();
    for w in cleaned.split_whitespace() {
        let w = w.trim_matches('\'');
        if w.is_empty() {
            continue;
        }
        match expand_contraction(w) {
            Some(parts) => words.extend(parts.iter().map(|p| p.to_string())),
            None => words.push(w.replace('\'', "")),
        }
    }
    numbers_to_digits(words)
}

/// Turns number words into digits, then splits every digit run into single
/// digit tokens, so both spellings compare equal.
fn numbers_to_digits(words: Vec<String>) -> Vec<String> {
    fn value(w: &str) -> Option<(u64, u8)> {
        // (value, kind): 0 = unit 0..9, 1 = teen 10..19, 2 = tens, 3 = hundred, 4 = thousand, 5 = million
        if let Some(i) = UNITS.iter().position(|u| *u == w) {
            return Some((i as u64, if i < 10 { 0 } else { 1 }));
        }
        if let Some(i) = TENS.iter().position(|t| *t == w) {
            return Some((20 + 10 * i as u64, 2));
        }
        match w {
            "hundred" => Some((100, 3)),
            "thousand" => Some((1000, 4)),
            "million" => Some((1_000_000, 5)),
            _ => None,
        }
    }
    let mut out: Vec<String> = Vec::new();
    let emit_digits =
        |out: &mut Vec<String>, n: u64| out.extend(n.to_string().chars().map(|c| c.to_string()));
    let mut total = 0u64;
    let mut current = 0u64;
    let mut last_kind: Option<u8> = None;
    let mut active = false;
    let flush = |out: &mut Vec<String>,
                 total: &mut u64,
                 current: &mut u64,
                 active: &mut bool,
                 last: &mut Option<u8>| {
        if *active {
            emit_digits(out, *total + *current);
        }
        *total = 0;
        *current = 0;
        *active = false;
        *last = None;
    };
    for w in words {
        match value(&w) {
            Some((v, kind)) => {
                // Does this word continue the number being read?
                let continues = match (last_kind, kind) {
                    (None, 3..=5) => false, // "hundred" alone is a word
                    (None, _) => true,
                    (Some(2), 0) => true,         // twenty one
                    (Some(3), 0..=2) => true,     // hundred five / ten / twenty
                    (Some(4 | 5), 0..=2) => true, // thousand five
                    (Some(0..=2), 3) => true,     // five hundred
                    (Some(0..=3), 4 | 5) => true, // five thousand
                    _ => false,                   // "four five" = two numbers
                };
                if !continues {
                    flush(
                        &mut out,
                        &mut total,
                        &mut current,
                        &mut active,
                        &mut last_kind,
                    );
                    if kind >= 3 {
                        out.push(w);
                        continue;
                    }
                }
                match kind {
                    0..=2 => current += v,
                    3 => current = current.max(1) * 100,
                    _ => {
                        total += current.max(1) * v;
                        current = 0;
                    }
                }
                active = true;
                last_kind = Some(kind);
            }
            None => {
                flush(
                    &mut out,
                    &mut total,
                    &mut current,
                    &mut active,
                    &mut last_kind,
                );
                if w.chars().all(|c| c.is_ascii_digit()) {
                    emit_digits_str(&mut out, &w);
                } else {
                    out.push(w);
                }
            }
        }
    }
    flush(
        &mut out,
        &mut total,
        &mut current,
        &mut active,
        &mut last_kind,
    );
    out
}

fn emit_digits_str(out: &mut Vec<String>, digits: &str) {
    // Leading zeros are kept ("007" → 0 0 7), as a spoken "oh oh seven" would be.
    out.extend(digits.chars().map(|c| c.to_string()));
}

fn edit_distance(a: &[String], b: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Word error rate of `hypothesis` against `reference`, after [`normalize`]:
/// (substitutions + deletions + insertions) / reference words. 0 for two
/// empty texts; 1 for an empty reference and a non-empty hypothesis.
pub fn word_error_rate(reference: &str, hypothesis: &str) -> f64 {
    let r = normalize(reference);
    let h = normalize(hypothesis);
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    edit_distance(&r, &h) as f64 / r.len() as f64
}

/// The lowest word error rate of `phrase` against any run of words in `hay`
/// (both normalized), e.g. 0.0 when `hay` contains the phrase exactly.
pub fn best_phrase_wer(hay: &str, phrase: &str) -> f64 {
    let p = normalize(phrase);
    let h = normalize(hay);
    if p.is_empty() {
        return 0.0;
    }
    // Approximate substring matching: free start and end in `hay`.
    let mut prev = vec![0usize; h.len() + 1];
    let mut cur = vec![0usize; h.len() + 1];
    for i in 1..=p.len() {
        cur[0] = i;
        for j in 1..=h.len() {
            let sub = prev[j - 1] + usize::from(p[i - 1] != h[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    *prev.iter().min().unwrap() as f64 / p.len() as f64
}

/// Whether `hay` contains `phrase` with at most `max_wer` word error rate in
/// its best-matching window.
pub fn contains_phrase_fuzzy(hay: &str, phrase: &str, max_wer: f64) -> bool {
    best_phrase_wer(hay, phrase) <= max_wer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Vec<String> {
        normalize(s)
    }

    #[test]
    fn normalize_numbers_and_punctuation() {
        assert_eq!(n("Ten."), n("10"));
        assert_eq!(n("My number is four five six"), n("My number is 456."));
        assert_eq!(n("4-5-6"), n("four five six"));
        assert_eq!(n("twenty one"), n("21"));
        assert_eq!(n("one hundred and five"), n("100 and 5"));
        assert_eq!(n("three thousand two hundred"), n("3,200"));
        assert_eq!(n("I'm here, OK?"), vec!["i", "am", "here", "okay"]);
        assert_eq!(n("Hello, World!"), vec!["hello", "world"]);
        assert_eq!(n("a hundred"), vec!["a", "hundred"]);
    }

    #[test]
    fn wer_basics() {
        assert_eq!(
            word_error_rate(
                "I would like to book an appointment",
                "I would like to book an appointment."
            ),
            0.0
        );
        let w = word_error_rate(
            "I would like to book an appointment",
            "I would like to welcome an appointment",
        );
        assert!((w - 1.0 / 7.0).abs() < 1e-9, "{w}");
        assert_eq!(word_error_rate("", ""), 0.0);
        assert_eq!(word_error_rate("a b", ""), 1.0);
    }

    #[test]
    fn fuzzy_phrase() {
        let hay = "Hello, thanks for calling. Sure, I can book an appointment for you on Tuesday.";
        assert!(contains_phrase_fuzzy(hay, "book an appointment", 0.0));
        assert!(contains_phrase_fuzzy(hay, "book the appointment", 0.34));
        assert!(!contains_phrase_fuzzy(hay, "cancel my order", 0.34));
    }
}
