//! Numbers for people: the one way emerge prints a size, a duration and a
//! count, in the plan, the summaries, the reports and the charts alike
//! (`scripts/gallery_table.py` mirrors [`si`]).

/// A quantity to three significant digits with an SI suffix: `888`,
/// `3.31k`, `12.8k`, `12k`, `336k`, `1.2M`, `16.1T`.
pub fn si(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    const UNITS: [(f64, &str); 7] = [
        (1.0, ""),
        (1e3, "k"),
        (1e6, "M"),
        (1e9, "G"),
        (1e12, "T"),
        (1e15, "P"),
        (1e18, "E"),
    ];
    let mut i = UNITS.iter().rposition(|&(d, _)| x.abs() >= d).unwrap_or(0);
    loop {
        let (div, name) = UNITS[i];
        let v = x / div;
        let digits = match v.abs() {
            a if a >= 100.0 => 0,
            a if a >= 10.0 => 1,
            _ => 2,
        };
        let s = format!("{v:.digits$}");
        // 999.7k rounds to 1000k: say 1M.
        if s.trim_start_matches('-') == "1000" && i + 1 < UNITS.len() {
            i += 1;
            continue;
        }
        // 12.0k reads as 12k; 1.20M as 1.2M.
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            &s
        };
        return format!("{s}{name}");
    }
}

/// A duration to the second below 100 s, then minutes and seconds, then
/// hours and minutes: `42s`, `2m09s`, `7h59m`; `?` when unknown.
pub fn secs(s: f64) -> String {
    if !s.is_finite() {
        return "?".into();
    }
    let s = s.round() as u64;
    match s {
        0..=99 => format!("{s}s"),
        100..=5999 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// `1 job`, `3 jobs`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si_keeps_three_significant_digits() {
        for (x, want) in [
            (0.0, "0"),
            (7.0, "7"),
            (888.0, "888"),
            (3312.0, "3.31k"),
            (12768.0, "12.8k"),
            (12000.0, "12k"),
            (100096.0, "100k"),
            (335712.0, "336k"),
            (999_700.0, "1M"),
            (1.2e6, "1.2M"),
            (2.5e9, "2.5G"),
            (16.115e12, "16.1T"),
            (-25_472.0, "-25.5k"),
        ] {
            assert_eq!(si(x), want, "{x}");
        }
    }

    #[test]
    fn secs_and_plurals() {
        assert_eq!(secs(42.4), "42s");
        assert_eq!(secs(129.0), "2m09s");
        assert_eq!(secs(7.0 * 3600.0 + 59.0 * 60.0), "7h59m");
        assert_eq!(secs(f64::NAN), "?");
        assert_eq!(plural(1, "job", "jobs"), "1 job");
        assert_eq!(plural(3, "job", "jobs"), "3 jobs");
    }
}
