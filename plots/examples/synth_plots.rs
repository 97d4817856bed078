//! Write a synthetic run folder with planted curves, analyze it and plot it,
//! for looking at the charts without a sweep:
//! `cargo run -p plots --example synth_plots -- /tmp/synth-run [--seeds] [--many-shots] [--steep]`

use results::synth::{write_run, SynthSpec};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "/tmp/emerge-synth-run".into()),
    );
    let mut spec = SynthSpec::example();
    if std::env::args().any(|a| a == "--seeds") {
        spec.seeds = vec![0, 1, 2];
    }
    if std::env::args().any(|a| a == "--many-shots") {
        spec.tasks[1].shots = vec![0, 1, 2, 4, 8];
    }
    if std::env::args().any(|a| a == "--steep") {
        // The quick preset's expected picture: cot jumps between two sizes,
        // direct stays at zero.
        spec.tasks[0].cot = results::synth::Planted::Sigmoid {
            ceiling: 0.97,
            k: 30.0,
            x0: 5.3,
        };
        spec.tasks[0].direct = results::synth::Planted::LogLinear { a: 0.0, b: 0.0 };
    }
    write_run(&dir, &spec)?;
    let (analysis, fits) = results::analyze::analyze_run(&dir)?;
    print!("{}", results::analyze::summary(&analysis));
    println!("wrote {}", fits.display());
    let run = results::Run::load(&dir)?;
    let (written, notes) = plots::plot_run(&run, &analysis.fits, &dir.join("plots"))?;
    for n in notes {
        println!("note: {n}");
    }
    for p in written {
        println!("wrote {}", p.display());
    }
    Ok(())
}
