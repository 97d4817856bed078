//! The one description of the network's parameters.
//!
//! Each parameter is written once below, with its field name, checkpoint
//! name, shape, initialization and weight decay. Everything else derives
//! from these lists: the parameter order of [`crate::Gpt::params`], the
//! checkpoint names, the parameter counts of [`crate::ModelConfig`], the
//! flat gradient layout of the fast backend, and the views both backends
//! take of the weights ([`Params`] of tensors or of slices).
//!
//! Changing the block (say, RMSNorm instead of LayerNorm) means editing
//! [`Block`]'s list here, the forward (`model::block`, and the fast
//! backend's `cpu_train::block_forward`) and the backward
//! (`cpu_train::block_backward`); the compiler points at each use of a
//! field that changed.

use crate::config::ModelConfig;

/// A dimension of a parameter's shape, resolved against a [`ModelConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dim {
    D,
    ThreeD,
    Ff,
    Vocab,
    Context,
}

impl Dim {
    pub(crate) fn of(self, c: &ModelConfig) -> usize {
        match self {
            Dim::D => c.d_model,
            Dim::ThreeD => 3 * c.d_model,
            Dim::Ff => c.d_ff,
            Dim::Vocab => c.vocab,
            Dim::Context => c.context,
        }
    }
}

/// How a parameter is initialized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Init {
    /// N(0, 0.02), GPT-2's.
    Normal,
    /// N(0, 0.02/√(2·n_layer)): GPT-2's residual projections, so the
    /// residual stream's variance does not grow with depth.
    NormalResidual,
    Zeros,
    Ones,
}

/// One parameter: its name (under `blocks.{i}.` for a block's), shape,
/// initialization and whether AdamW decays it (the matrices of linear
/// layers only, not biases, norms or embeddings).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParamDef {
    pub(crate) name: &'static str,
    pub(crate) shape: &'static [Dim],
    pub(crate) init: Init,
    pub(crate) decay: bool,
}

impl ParamDef {
    pub(crate) fn dims(&self, c: &ModelConfig) -> Vec<usize> {
        self.shape.iter().map(|d| d.of(c)).collect()
    }

    pub(crate) fn elements(&self, c: &ModelConfig) -> usize {
        self.shape.iter().map(|d| d.of(c)).product()
    }
}

/// Declares a struct with one field per parameter (any payload `P`: a
/// tensor, a slice, a gradient buffer) and the list of their definitions,
/// in the same order.
macro_rules! param_group {
    (
        $(#[$meta:meta])*
        struct $group:ident, $defs:ident {
            $( $field:ident: $name:literal [$($dim:ident),+] $init:ident, decay $decay:literal; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default)]
        pub(crate) struct $group<P> {
            $( pub(crate) $field: P, )+
        }

        /// The definitions of the fields, in field order.
        pub(crate) const $defs: &[ParamDef] = &[
            $( ParamDef {
                name: $name,
                shape: &[$(Dim::$dim),+],
                init: Init::$init,
                decay: $decay,
            }, )+
        ];

        // Not every group needs every view.
        #[allow(dead_code)]
        impl<P> $group<P> {
            /// Fills the fields in order (Rust evaluates a struct
            /// expression's fields in the order written).
            pub(crate) fn from_fn(mut f: impl FnMut(&'static ParamDef) -> P) -> Self {
                let mut defs = $defs.iter();
                Self {
                    $( $field: f(defs.next().expect("a definition per field")), )+
                }
            }

            /// The fields, in order.
            pub(crate) fn into_vec(self) -> Vec<P> {
                vec![$( self.$field ),+]
            }

            pub(crate) fn as_ref(&self) -> $group<&P> {
                $group { $( $field: &self.$field, )+ }
            }

            pub(crate) fn as_mut(&mut self) -> $group<&mut P> {
                $group { $( $field: &mut self.$field, )+ }
            }

            /// Each field through `f`, with its definition.
            pub(crate) fn map<Q>(self, mut f: impl FnMut(&'static ParamDef, P) -> Q) -> $group<Q> {
                let mut defs = $defs.iter();
                $group {
                    $( $field: f(defs.next().expect("a definition per field"), self.$field), )+
                }
            }
        }
    };
}

param_group! {
    /// The token and position embeddings (the token one is also the output
    /// head: tied weights).
    struct Embeddings, EMBEDDINGS {
        wte: "wte.weight" [Vocab, D] Normal, decay false;
        wpe: "wpe.weight" [Context, D] Normal, decay false;
    }
}

param_group! {
    /// One transformer block, GPT-2's pre-LayerNorm layout:
    /// `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`. The attention's query,
    /// key and value projections are one `(3d, d)` matrix. Linear weights
    /// are stored `(out, in)`, as PyTorch's.
    struct Block, BLOCK {
        ln_1_w: "ln_1.weight" [D] Ones, decay false;
        ln_1_b: "ln_1.bias" [D] Zeros, decay false;
        qkv_w: "attn.qkv.weight" [ThreeD, D] Normal, decay true;
        qkv_b: "attn.qkv.bias" [ThreeD] Zeros, decay false;
        proj_w: "attn.proj.weight" [D, D] NormalResidual, decay true;
        proj_b: "attn.proj.bias" [D] Zeros, decay false;
        ln_2_w: "ln_2.weight" [D] Ones, decay false;
        ln_2_b: "ln_2.bias" [D] Zeros, decay false;
        fc_w: "mlp.fc.weight" [Ff, D] Normal, decay true;
        fc_b: "mlp.fc.bias" [Ff] Zeros, decay false;
        mlp_proj_w: "mlp.proj.weight" [D, Ff] NormalResidual, decay true;
        mlp_proj_b: "mlp.proj.bias" [D] Zeros, decay false;
    }
}

param_group! {
    /// The LayerNorm after the last block.
    struct FinalNorm, FINAL_NORM {
        ln_f_w: "ln_f.weight" [D] Ones, decay false;
        ln_f_b: "ln_f.bias" [D] Zeros, decay false;
    }
}

/// Every parameter of the model, in checkpoint order: embeddings, blocks,
/// final norm.
#[derive(Debug, Clone)]
pub(crate) struct Params<P> {
    pub(crate) emb: Embeddings<P>,
    pub(crate) blocks: Vec<Block<P>>,
    pub(crate) ln_f: FinalNorm<P>,
}

impl<P> Params<P> {
    /// From one value per parameter, in order; `None` when `values` holds
    /// another number of them.
    pub(crate) fn from_values(n_layer: usize, values: impl IntoIterator<Item = P>) -> Option<Self> {
        let mut it = values.into_iter();
        let mut missing = false;
        let mut next = |_: &ParamDef| -> Option<P> {
            let v = it.next();
            missing |= v.is_none();
            v
        };
        let emb = Embeddings::from_fn(&mut next);
        let blocks: Vec<_> = (0..n_layer).map(|_| Block::from_fn(&mut next)).collect();
        let ln_f = FinalNorm::from_fn(&mut next);
        if missing || it.next().is_some() {
            return None;
        }
        let some = |o: Option<P>| o.expect("checked above");
        Some(Params {
            emb: emb.map(|_, v| some(v)),
            blocks: blocks.into_iter().map(|b| b.map(|_, v| some(v))).collect(),
            ln_f: ln_f.map(|_, v| some(v)),
        })
    }

    /// One value per parameter, in order.
    #[cfg(test)]
    pub(crate) fn into_vec(self) -> Vec<P> {
        let mut v = self.emb.into_vec();
        for b in self.blocks {
            v.extend(b.into_vec());
        }
        v.extend(self.ln_f.into_vec());
        v
    }
}

/// Number of parameters (tensors) of a model with `n_layer` blocks.
#[cfg(test)]
pub(crate) fn count(n_layer: usize) -> usize {
    EMBEDDINGS.len() + n_layer * BLOCK.len() + FINAL_NORM.len()
}

/// Every parameter's full name (checkpoint key) and definition, in order.
pub(crate) fn definitions(n_layer: usize) -> Vec<(String, &'static ParamDef)> {
    let mut out: Vec<(String, &'static ParamDef)> =
        EMBEDDINGS.iter().map(|d| (d.name.to_string(), d)).collect();
    for i in 0..n_layer {
        out.extend(BLOCK.iter().map(|d| (format!("blocks.{i}.{}", d.name), d)));
    }
    out.extend(FINAL_NORM.iter().map(|d| (d.name.to_string(), d)));
    out
}

/// A model's parameter counts, from the lists above.
impl ModelConfig {
    /// Every trainable scalar. The output head is tied to the token embedding,
    /// so it is counted once, inside `vocab * d_model`.
    pub fn params(&self) -> usize {
        self.embedding_params() + self.params_non_embedding()
    }

    /// Token and position embeddings.
    pub fn embedding_params(&self) -> usize {
        EMBEDDINGS.iter().map(|d| d.elements(self)).sum()
    }

    /// Kaplan et al.'s N: everything except the token and position embeddings
    /// (blocks plus the final layer norm).
    pub fn params_non_embedding(&self) -> usize {
        let block: usize = BLOCK.iter().map(|d| d.elements(self)).sum();
        let final_norm: usize = FINAL_NORM.iter().map(|d| d.elements(self)).sum();
        self.n_layer * block + final_norm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_give_the_gpt2_names_in_order_and_round_trip() {
        let defs = definitions(2);
        assert_eq!(defs.len(), count(2));
        let names: Vec<&str> = defs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            &names[..3],
            ["wte.weight", "wpe.weight", "blocks.0.ln_1.weight"]
        );
        assert_eq!(names[2 + BLOCK.len()], "blocks.1.ln_1.weight");
        assert_eq!(names.last(), Some(&"ln_f.bias"));
        let p = Params::from_values(2, 0..count(2)).expect("right count");
        assert_eq!(p.blocks[1].qkv_w, 2 + BLOCK.len() + 2);
        assert_eq!(p.into_vec(), (0..count(2)).collect::<Vec<_>>());
        assert!(Params::from_values(2, 0..count(2) - 1).is_none());
        assert!(Params::from_values(2, 0..count(2) + 1).is_none());
    }
}
