//! The one text format shared by every task.
//!
//! ```text
//! direct: <query> A:<answer>\n
//! cot:    <query> T:<trace> A:<answer>\n
//! ```
//! Direct prompts end with the answer cue, chain-of-thought prompts with
//! the think cue; the answer is whatever follows the last answer cue. The
//! cues are short because the quick preset fits 3-digit addition with its
//! scratchpad into 96 tokens. No task ever puts a cue inside a query or a
//! trace (checked by the property tests).

pub const ANSWER_CUE: &str = " A:";
pub const THINK_CUE: &str = " T:";
/// Ends every example.
pub const END: char = '\n';

/// How a model is asked to answer; defined with the CSV schema, whose
/// `mode` column it fills.
pub use runfolder::Mode;

/// The prompt of a query in a mode: the query followed by the mode's cue.
pub fn prompt(query: &str, mode: Mode) -> String {
    match mode {
        Mode::Direct => format!("{query}{ANSWER_CUE}"),
        Mode::Cot => format!("{query}{THINK_CUE}"),
    }
}

/// What a perfect model writes after the prompt, including the end newline.
pub fn completion(trace: &str, answer: &str, mode: Mode) -> String {
    match mode {
        Mode::Direct => format!("{answer}{END}"),
        Mode::Cot => format!("{trace}{ANSWER_CUE}{answer}{END}"),
    }
}

/// Length in characters (= tokens) of a whole example in a mode.
pub fn example_len(query: &str, trace: &str, answer: &str, mode: Mode) -> usize {
    match mode {
        Mode::Direct => query.len() + ANSWER_CUE.len() + answer.len() + 1,
        Mode::Cot => {
            query.len() + THINK_CUE.len() + trace.len() + ANSWER_CUE.len() + answer.len() + 1
        }
    }
}
