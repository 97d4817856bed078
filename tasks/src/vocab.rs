//! Character-level vocabulary: two special tokens, newline and printable ASCII.
//!
//! Ids are fixed forever (checkpoints depend on them): 0 padding, 1 the
//! sequence boundary / end token, 2 newline (the end of every example),
//! then the printable characters ' '..='~' in ASCII order.

/// Padding: fills the tail of a training sequence; never a loss target.
pub const PAD: u32 = 0;
/// End token: opens every training sequence and every evaluation prompt
/// (like GPT-2's end-of-text between documents); decoding also stops at it.
pub const EOS: u32 = 1;
/// Newline ends every example.
pub const NEWLINE: u32 = 2;
const FIRST_PRINTABLE: u32 = 3;

/// Number of token ids.
pub const fn vocab_size() -> usize {
    (FIRST_PRINTABLE + (b'~' - b' ') as u32 + 1) as usize
}

/// A character outside the vocabulary, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("character {ch:?} (U+{code:04X}) at byte {at} of {origin} is outside the vocabulary (printable ASCII and newline)")]
pub struct VocabError {
    pub ch: char,
    pub code: u32,
    pub at: usize,
    pub origin: String,
}

/// Token id of one character, if it is in the vocabulary.
pub fn char_id(c: char) -> Option<u32> {
    match c {
        '\n' => Some(NEWLINE),
        ' '..='~' => Some(FIRST_PRINTABLE + (c as u32 - ' ' as u32)),
        _ => None,
    }
}

/// Encode text; `origin` names where the text came from for the error.
pub fn encode(text: &str, origin: &str) -> Result<Vec<u32>, VocabError> {
    text.char_indices()
        .map(|(at, ch)| {
            char_id(ch).ok_or_else(|| VocabError {
                ch,
                code: ch as u32,
                at,
                origin: origin.to_string(),
            })
        })
        .collect()
}

/// Encode an evaluation prompt the way training sequences begin: with EOS.
pub fn encode_prompt(text: &str, origin: &str) -> Result<Vec<u32>, VocabError> {
    let mut ids = vec![EOS];
    ids.extend(encode(text, origin)?);
    Ok(ids)
}

/// The text of one token; special tokens render as `<pad>` / `<eos>`,
/// an id outside the vocabulary as `<?>`.
pub fn token_str(id: u32) -> String {
    match id {
        PAD => "<pad>".into(),
        EOS => "<eos>".into(),
        NEWLINE => "\n".into(),
        _ if (id as usize) < vocab_size() => {
            char::from(b' ' + (id - FIRST_PRINTABLE) as u8).to_string()
        }
        _ => "<?>".into(),
    }
}

/// Decode to plain text, dropping padding and end tokens (model output).
pub fn decode(ids: &[u32]) -> String {
    ids.iter()
        .filter(|&&id| id != PAD && id != EOS)
        .map(|&id| token_str(id))
        .collect()
}

/// Whether generation should stop after emitting this token.
pub fn is_stop(id: u32) -> bool {
    id == NEWLINE || id == EOS
}
