//! The counts from the config equal the variables actually created.

use models::{DType, Device, Gpt, ModelConfig};

#[test]
fn param_counts_equal_created_elements() {
    let shapes = [
        (1, 32, 2, 32),
        (2, 64, 2, 32),
        (3, 48, 4, 97),
        (4, 128, 4, 100),
    ];
    for (l, d, h, v) in shapes {
        let mut cfg = ModelConfig::new(v, 64, l, d, h);
        if l == 3 {
            cfg.d_ff = 100;
        }
        let m = Gpt::new(cfg, 0, DType::F32, &Device::Cpu).unwrap();
        assert_eq!(m.element_count(), cfg.params(), "{cfg:?}");
        let emb: usize = m
            .params
            .iter()
            .filter(|p| p.name.starts_with("wte") || p.name.starts_with("wpe"))
            .map(|p| p.var.elem_count())
            .sum();
        assert_eq!(
            m.element_count() - emb,
            cfg.params_non_embedding(),
            "{cfg:?}"
        );
    }
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let cfg = ModelConfig::new(11, 8, 1, 16, 2);
    let bits = |seed| {
        let m = Gpt::new(cfg, seed, DType::F32, &Device::Cpu).unwrap();
        m.params
            .iter()
            .flat_map(|p| {
                p.var
                    .as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            })
            .map(f32::to_bits)
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(5), bits(5));
    assert_ne!(bits(5), bits(6));
}

#[test]
fn invalid_config_is_an_error_naming_the_field() {
    let e = Gpt::new(
        ModelConfig::new(11, 8, 1, 30, 4),
        0,
        DType::F32,
        &Device::Cpu,
    )
    .unwrap_err();
    assert!(e.to_string().contains("n_head"), "{e}");
}
