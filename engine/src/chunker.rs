//! Streams LLM tokens into speakable chunks for TTS.
//!
//! A chunk ends at a sentence end (`.` `!` `?` `…` and the CJK `。` `！` `？`),
//! at a line break, or — once the chunk is long enough that synthesizing it
//! early pays off — at a clause boundary (`,` `;` `:` and `，` `；` `：` `、`).
//! The first chunk of a reply may be cut at a shorter clause than later ones so
//! the caller hears audio sooner (time-to-first-audio dominates perceived latency).
//!
//! It does not split on decimals (`3.5`), times (`10:30`), thousands (`1,000`),
//! common abbreviations (`Dr.`, `e.g.`, `a.m.`, `U.S.`), single-letter initials,
//! numbered-list markers (`1.` at a line start), or a `.` followed by a lowercase
//! word. Markdown emphasis/code markers (`*`, `` ` ``), heading `#`s, list bullets
//! and horizontal rules are stripped, and whitespace is collapsed.
//!
//! Decisions depend only on the text, never on how it was split into tokens: when
//! the text so far ends right at a possible boundary, the chunker waits for the
//! next token (or [`SentenceChunker::flush`]) before deciding.

/// Tuning of [`SentenceChunker`]. Lengths are in characters of cleaned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkerConfig {
    /// The first chunk of a reply may end at a clause boundary once it is at least this long.
    pub first_clause_min_chars: usize,
    /// Later chunks may end at a clause boundary once at least this long.
    pub clause_min_chars: usize,
    /// A chunk without any boundary is cut at the next whitespace after this many
    /// raw characters, so run-on text still streams.
    pub max_chars: usize,
}

impl Default for ChunkerConfig {
    fn default() -> Self {
        Self {
            first_clause_min_chars: 20,
            clause_min_chars: 40,
            max_chars: 250,
        }
    }
}

/// Incremental sentence/clause splitter for one reply. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct SentenceChunker {
    config: ChunkerConfig,
    /// Raw text not yet emitted.
    buf: String,
    /// Non-empty chunks emitted since the last flush/reset.
    emitted: usize,
    /// Whether `buf` begins at the start of a line (for list-marker detection).
    mid_line: bool,
}

/// Words that end in `.` without ending a sentence (lowercase, dot removed).
/// Dotted forms (`e.g.`, `a.m.`, `U.S.`) are recognised by their inner dot instead.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "mt", "ft", "approx", "dept", "est",
    "fig", "gen", "gov", "lt", "col", "capt", "sgt", "rev", "hon", "jan", "feb", "apr", "jun",
    "jul", "aug", "sep", "sept", "oct", "nov", "dec", "ave", "blvd", "rd", "hwy", "vol", "cf",
    "al", "ca", "tel", "ext",
];

/// Sentence terminators that need whitespace after them (Latin script).
fn is_latin_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…')
}

/// Sentence terminators used without a following space (CJK full-width forms).
fn is_cjk_terminator(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '｡')
}

/// Characters that may follow a terminator and still belong to its sentence.
fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '”' | '’' | ')' | ']' | '»' | '」' | '』' | '）' | '】' | '*' | '`' | '_'
    )
}

fn is_opener(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '“' | '‘' | '(' | '[' | '«' | '*' | '`' | '_'
    )
}

/// Outcome of scanning the buffer.
enum Scan {
    /// A chunk ends at this byte offset.
    Split(usize),
    /// No boundary yet (possibly waiting for more text to decide).
    Wait,
}

impl SentenceChunker {
    /// A chunker with [`ChunkerConfig::default`].
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_config(config: ChunkerConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Appends one streamed token and returns the chunks it completed, in order
    /// (cleaned, never empty).
    pub fn push(&mut self, token: &str) -> Vec<String> {
        self.buf.push_str(token);
        let mut chunks = Vec::new();
        while let Scan::Split(end) = self.scan() {
            let raw: String = self.buf.drain(..end).collect();
            self.mid_line = !raw.ends_with('\n');
            let chunk = clean(&raw);
            if !chunk.is_empty() {
                self.emitted += 1;
                chunks.push(chunk);
            }
        }
        chunks
    }

    /// Ends the stream: returns whatever is buffered (cleaned; `None` if nothing
    /// speakable) and resets the chunker for a new reply.
    pub fn flush(&mut self) -> Option<String> {
        let chunk = clean(&self.buf);
        self.reset();
        (!chunk.is_empty()).then_some(chunk)
    }

    /// Drops buffered text and starts over (the next chunk is a "first" chunk again).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.emitted = 0;
        self.mid_line = false;
    }

    /// True when nothing speakable is buffered.
    pub fn is_empty(&self) -> bool {
        clean(&self.buf).is_empty()
    }

    fn clause_threshold(&self) -> usize {
        if self.emitted == 0 {
            self.config.first_clause_min_chars
        } else {
            self.config.clause_min_chars
        }
    }

    /// Finds the end of the first complete chunk in `buf`.
    fn scan(&self) -> Scan {
        let chars: Vec<(usize, char)> = self.buf.char_indices().collect();
        let n = chars.len();
        let byte_at = |j: usize| if j < n { chars[j].0 } else { self.buf.len() };
        let threshold = self.clause_threshold();
        let mut i = 0;
        while i < n {
            let (pos, c) = chars[i];
            if is_cjk_terminator(c) {
                let mut j = i + 1;
                while j < n && (is_cjk_terminator(chars[j].1) || is_closer(chars[j].1)) {
                    j += 1;
                }
                return Scan::Split(byte_at(j));
            }
            if is_latin_terminator(c) {
                let mut j = i + 1;
                while j < n && is_latin_terminator(chars[j].1) {
                    j += 1;
                }
                let run = j - i;
                while j < n && is_closer(chars[j].1) {
                    j += 1;
                }
                if j == n {
                    return Scan::Wait; // can't tell "3." from "3.5" yet
                }
                if !chars[j].1.is_whitespace() {
                    i = j; // "3.5", "e.g.x", "example.com"
                    continue;
                }
                if c == '.' && run == 1 {
                    if self.is_abbreviation_or_marker(&chars, i) {
                        i = j;
                        continue;
                    }
                    // A lowercase word after ". " means the sentence goes on ("etc. and").
                    let mut k = j;
                    let mut newline = false;
                    while k < n && chars[k].1.is_whitespace() {
                        newline |= chars[k].1 == '\n';
                        k += 1;
                    }
                    if !newline {
                        if k == n {
                            return Scan::Wait;
                        }
                        if chars[k].1.is_lowercase() {
                            i = k;
                            continue;
                        }
                    }
                }
                return Scan::Split(byte_at(j));
            }
            match c {
                ',' | ';' | ':' if clean_len(&self.buf[..pos + 1]) >= threshold => {
                    if i + 1 == n {
                        return Scan::Wait; // "1," might become "1,000"
                    }
                    if chars[i + 1].1.is_whitespace() {
                        return Scan::Split(byte_at(i + 1));
                    }
                }
                '，' | '；' | '：' | '、'
                    if clean_len(&self.buf[..pos + c.len_utf8()]) >= threshold =>
                {
                    return Scan::Split(byte_at(i + 1));
                }
                '\n' if clean_len(&self.buf[..pos]) > 0 => return Scan::Split(byte_at(i + 1)),
                c if c.is_whitespace()
                    && i >= self.config.max_chars
                    && clean_len(&self.buf[..pos]) > 0 =>
                {
                    return Scan::Split(pos);
                }
                _ => {}
            }
            i += 1;
        }
        Scan::Wait
    }

    /// Whether the `.` at `chars[dot]` belongs to an abbreviation, an initial, a
    /// decimal-looking token or a numbered-list marker rather than ending a sentence.
    fn is_abbreviation_or_marker(&self, chars: &[(usize, char)], dot: usize) -> bool {
        let mut start = dot;
        while start > 0 && !chars[start - 1].1.is_whitespace() {
            start -= 1;
        }
        let mut word: String = chars[start..dot].iter().map(|&(_, c)| c).collect();
        while word.starts_with(is_opener) {
            word.remove(0);
        }
        if word.is_empty() {
            return false;
        }
        if word.chars().all(|c| c.is_ascii_digit()) {
            // "1." at the start of a line is a list marker; "I have 3." ends a sentence.
            let line_start = chars[..start]
                .iter()
                .rev()
                .take_while(|&&(_, c)| c != '\n')
                .all(|&(_, c)| c.is_whitespace());
            let at_buffer_line_start =
                chars[..start].iter().any(|&(_, c)| c == '\n') || !self.mid_line;
            return line_start && at_buffer_line_start;
        }
        if word
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
        {
            return false; // "3.5." ends a sentence
        }
        if word.contains('.') {
            return true; // e.g. i.e. a.m. U.S.
        }
        let mut letters = word.chars();
        if let (Some(first), None) = (letters.next(), letters.next()) {
            if first.is_uppercase() && first != 'I' {
                return true; // an initial: "J. Smith"
            }
        }
        ABBREVIATIONS.contains(&word.to_lowercase().as_str())
    }
}

/// Character count of `raw` once cleaned.
fn clean_len(raw: &str) -> usize {
    clean(raw).chars().count()
}

/// Strips markdown markers and collapses whitespace (see module docs).
pub fn clean(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for line in raw.split('\n') {
        let mut l = line.trim_start();
        if !l.is_empty()
            && l.chars()
                .all(|c| matches!(c, '-' | '=' | '_' | '*') || c.is_whitespace())
        {
            continue; // horizontal rule / setext underline
        }
        let hashes = l.bytes().take_while(|&b| b == b'#').count();
        if hashes > 0 && l[hashes..].chars().next().is_none_or(char::is_whitespace) {
            l = &l[hashes..];
        }
        if let Some(rest) = l.strip_prefix("- ").or_else(|| l.strip_prefix("+ ")) {
            l = rest;
        }
        out.extend(l.chars().filter(|&c| c != '*' && c != '`'));
        out.push(' ');
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `tokens`, then flushes; returns every chunk.
    fn run(tokens: &[&str]) -> Vec<String> {
        let mut c = SentenceChunker::new();
        let mut out: Vec<String> = tokens.iter().flat_map(|t| c.push(t)).collect();
        out.extend(c.flush());
        out
    }

    /// Feeds `text` one character at a time.
    fn run_chars(text: &str) -> Vec<String> {
        let tokens: Vec<String> = text.chars().map(String::from).collect();
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        run(&refs)
    }

    #[test]
    fn splits_at_sentence_ends() {
        assert_eq!(
            run(&["Hello there. How ", "are you? I'm fine! Good"]),
            vec!["Hello there.", "How are you?", "I'm fine!", "Good"]
        );
    }

    #[test]
    fn emits_as_soon_as_the_next_word_starts() {
        let mut c = SentenceChunker::new();
        assert!(
            c.push("Hello there.").is_empty(),
            "waits: could be 'there.com'"
        );
        assert!(
            c.push(" ").is_empty(),
            "waits: could be followed by a lowercase word"
        );
        assert_eq!(c.push("How"), vec!["Hello there."]);
        assert_eq!(c.flush().as_deref(), Some("How"));
    }

    #[test]
    fn does_not_split_decimals_times_or_thousands() {
        assert_eq!(
            run(&["It costs 3.5 dollars at 10:30 for 1,000 people. Next"]),
            vec!["It costs 3.5 dollars at 10:30 for 1,000 people.", "Next"]
        );
        assert_eq!(
            run(&["The total is 3.5. Thanks"]),
            vec!["The total is 3.5.", "Thanks"]
        );
    }

    #[test]
    fn does_not_split_abbreviations() {
        assert_eq!(
            run(&["Dr. Smith sees you at 9 a.m. Monday. Bring e.g. your card. Ok"]),
            vec![
                "Dr. Smith sees you at 9 a.m. Monday.",
                "Bring e.g. your card.",
                "Ok"
            ]
        );
        assert_eq!(run(&["Ask J. Smith. Bye"]), vec!["Ask J. Smith.", "Bye"]);
        assert_eq!(
            run(&["Apples, pears etc. and more. Bye"]),
            vec!["Apples, pears etc. and more.", "Bye"]
        );
        assert_eq!(run(&["So do I. Bye"]), vec!["So do I.", "Bye"]);
    }

    #[test]
    fn handles_ellipsis_quotes_and_cjk() {
        assert_eq!(
            run(&["Well... Let me see. Hmm… Yes"]),
            vec!["Well...", "Let me see.", "Hmm…", "Yes"]
        );
        assert_eq!(
            run(&["He said \"hi.\" Then left"]),
            vec!["He said \"hi.\"", "Then left"]
        );
        assert_eq!(
            run(&["你好。我很好！谢谢？好"]),
            vec!["你好。", "我很好！", "谢谢？", "好"]
        );
        assert_eq!(run(&["**Great.** Next"]), vec!["Great.", "Next"]);
    }

    #[test]
    fn first_chunk_cut_early_at_a_comma() {
        // 21 chars before the comma: long enough for a first chunk, not for a later one.
        let chunks = run(&[
            "Sure thing, my friend, I can do it, tomorrow morning at nine o'clock, no problem.",
        ]);
        assert_eq!(chunks[0], "Sure thing, my friend,");
        assert_eq!(chunks[1], "I can do it, tomorrow morning at nine o'clock,");
        assert_eq!(chunks[2], "no problem.");
    }

    #[test]
    fn clause_split_needs_length() {
        assert_eq!(
            run(&["Yes, ok, fine. Then, later, we go."]),
            vec!["Yes, ok, fine.", "Then, later, we go."]
        );
        let long = "This is a longer sentence fragment than forty, and it keeps going.";
        let mut c = SentenceChunker::new();
        c.push("First sentence. ");
        let chunks = c.push(&format!("{long} X"));
        assert_eq!(
            chunks,
            vec![
                "First sentence.",
                "This is a longer sentence fragment than forty,",
                "and it keeps going."
            ]
        );
    }

    #[test]
    fn flush_returns_remainder_and_resets() {
        let mut c = SentenceChunker::new();
        assert!(c.push("No terminator here").is_empty());
        assert!(!c.is_empty());
        assert_eq!(c.flush().as_deref(), Some("No terminator here"));
        assert!(c.is_empty());
        assert_eq!(c.flush(), None);
        // A new reply: the shorter first-chunk clause rule applies again.
        assert_eq!(
            c.push("Hi, you, there friend, ok. "),
            vec!["Hi, you, there friend,"]
        );
    }

    #[test]
    fn strips_markdown_and_collapses_whitespace() {
        assert_eq!(
            run(&["## Options\n\n- **Plan A**: `basic`   tier\n- Plan   B\n---\n1. First step\n2. Second"]),
            vec!["Options", "Plan A: basic tier", "Plan B", "1. First step", "2. Second"]
        );
        assert_eq!(
            clean("Press # to   confirm *now*"),
            "Press # to confirm now"
        );
        assert_eq!(clean("  \n\t "), "");
    }

    #[test]
    fn run_on_text_is_cut_at_max_chars() {
        let text = "word ".repeat(100);
        let chunks = run(&[&text]);
        assert!(chunks.len() >= 2);
        assert!(chunks.iter().all(|c| c.chars().count() <= 255));
        assert_eq!(chunks.join(" "), text.trim());
    }

    #[test]
    fn result_is_independent_of_tokenization() {
        for text in [
            "Hello there. How are you? I'm at 3.5 Main St. in the U.S. today, e.g. now.",
            "Sure thing, my friend, I can do it, tomorrow morning at nine o'clock, no problem.",
            "## Title\n- **a**: b\n1. one\n2. two… done! 你好。好",
        ] {
            assert_eq!(run_chars(text), run(&[text]), "{text}");
        }
    }
}
