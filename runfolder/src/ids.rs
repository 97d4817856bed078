//! The model-id grammar: `L<layers>-D<width>-H<heads>-s<seed>` for a plain
//! model, and `<plain>@<arm>` for a model of an ablation arm. The arm rides
//! in the id so that every file keeps its columns; [`arm_of`] reads it back.

use crate::schema::files;
use std::path::{Path, PathBuf};

/// Between a model's plain id and its arm's name.
pub const SEPARATOR: char = '@';

/// The plain id of the model with this shape and seed.
pub fn model_id(n_layer: usize, d_model: usize, n_head: usize, seed: u64) -> String {
    format!("L{n_layer}-D{d_model}-H{n_head}-s{seed}")
}

/// The arm of a model id, if it has one.
pub fn arm_of(model_id: &str) -> Option<&str> {
    model_id.split_once(SEPARATOR).map(|(_, arm)| arm)
}

/// The id of arm `arm`'s model whose plain id is `plain`: the two joined by
/// [`SEPARATOR`], which [`arm_of`] splits at. Neither part may hold the
/// separator (the sweep's config refuses such arm names, and [`model_id`]
/// never writes one).
pub fn arm_model_id(plain: &str, arm: &str) -> String {
    assert!(
        !plain.contains(SEPARATOR) && !arm.contains(SEPARATOR),
        "model id parts may not hold '{SEPARATOR}': {plain:?}, {arm:?}"
    );
    format!("{plain}{SEPARATOR}{arm}")
}

/// `run/arms/<arm>`: where that arm's fits, claims and plots go.
pub fn arm_dir(run: &Path, arm: &str) -> PathBuf {
    run.join(files::ARMS_DIR).join(arm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_ids_round_trip() {
        assert_eq!(model_id(12, 768, 12, 41), "L12-D768-H12-s41");
        // Every character the config allows in an arm name, and the names
        // the presets use, come back out of the id they were put in.
        for arm in [
            "add",
            "word+code",
            "lr-double",
            "word.commented_code",
            "a",
            "0+-_.",
        ] {
            for plain in ["L2-D64-H4-s0", "L12-D768-H12-s41"] {
                let id = arm_model_id(plain, arm);
                assert_eq!(arm_of(&id), Some(arm), "{id}");
                assert_eq!(id.split_once(SEPARATOR), Some((plain, arm)), "{id}");
            }
        }
        // A plain id (no arm) has none.
        assert_eq!(arm_of("L2-D64-H4-s0"), None);
        // The written form is fixed: run folders already on disk hold it.
        assert_eq!(
            arm_model_id("L2-D64-H4-s0", "word+code"),
            "L2-D64-H4-s0@word+code"
        );
    }

    #[test]
    #[should_panic(expected = "may not hold")]
    fn a_separator_in_an_arm_name_is_refused() {
        arm_model_id("L1-D8-H2-s0", "a@b");
    }
}
