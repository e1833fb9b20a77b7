//! Per-function Lambda budgets (design.md): release binary size, time from process start to
//! the first answered invocation (cold start), and peak memory over the scenario's requests.
//! Run through `infra/bench-lambda.sh`, which builds the binaries and starts the emulator.
//!
//! Usage: bench-lambda RUNNABLE_DIR DEPLOYED_LAMBDA_DIR [RUNS]
//! (the first holds binaries built for this machine, as `<function>` or `<function>/bootstrap`;
//! the second cargo-lambda's arm64 build, `<function>/bootstrap`).

use std::path::PathBuf;
use std::time::Duration;

use ow_e2e::lambda::Options;

const SIZE_BUDGET: f64 = 10e6;
const INIT_BUDGET_MS: f64 = 50.0;
const MEMORY_BUDGET_KIB: f64 = 128.0 * 1024.0;

fn median(mut v: Vec<Duration>) -> Option<Duration> {
    v.sort();
    v.get(v.len() / 2).copied()
}

fn ms(d: Option<Duration>) -> f64 {
    d.map(|d| d.as_secs_f64() * 1000.0).unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bench-lambda RUNNABLE_LAMBDA_DIR DEPLOYED_LAMBDA_DIR [RUNS]");
        std::process::exit(2);
    }
    let runnable = PathBuf::from(&args[1]);
    let deployed = PathBuf::from(&args[2]);
    let runs: usize = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(5);

    println!(
        "{:<16} {:>16} {:>22} {:>22} {:>20}  invocations",
        "function", "size (arm64)", "init (to 1st poll)", "1st answer (cold)", "peak RSS"
    );
    let mut over_budget = false;
    let mut names: Vec<String> = std::fs::read_dir(&deployed)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for name in &names {
        let name = name.as_str();
        let size = std::fs::metadata(deployed.join(name).join("bootstrap"))
            .map(|m| m.len() as f64)
            .unwrap_or(f64::NAN);
        // cargo-lambda's `<name>/bootstrap`, or cargo's `<name>`.
        let binary = match runnable.join(name).join("bootstrap") {
            b if b.is_file() => b,
            _ => runnable.join(name),
        };
        let (mut inits, mut firsts, mut rss, mut served) = (Vec::new(), Vec::new(), 0, 0);
        for _ in 0..runs {
            let report = ow_e2e::lambda::run(
                &binary,
                Options {
                    compare_with_local: false,
                    create_table: false,
                },
            )
            .await;
            if !report.mismatches.is_empty() {
                eprintln!("{name}: {}", report.mismatches.join("\n"));
                std::process::exit(1);
            }
            inits.extend(report.init);
            firsts.extend(report.first_answer);
            rss = rss.max(report.peak_rss_kib.unwrap_or(0));
            served = report.served.len();
        }
        let (init, first) = (ms(median(inits)), ms(median(firsts)));
        let rss_mib = rss as f64 / 1024.0;
        let ratios = [
            size / SIZE_BUDGET,
            first / INIT_BUDGET_MS,
            rss as f64 / MEMORY_BUDGET_KIB,
        ];
        let over = ratios.iter().any(|r| r.is_nan() || *r >= 1.0);
        over_budget |= over;
        println!(
            "{name:<16} {:>7.2} MB {:>5.2}x {:>10.1} ms {:>9} {:>10.1} ms {:>5.2}x {:>9.1} MiB {:>5.2}x  {served}{}",
            size / 1e6,
            ratios[0],
            init,
            "",
            first,
            ratios[1],
            rss_mib,
            ratios[2],
            if over { "  OVER BUDGET" } else { "" },
        );
    }
    println!(
        "budgets: size < 10 MB, cold start to first answer < 50 ms, peak memory < 128 MiB \
         (ratios: measured / budget; medians of {runs} cold starts; peak RSS: the highest)"
    );
    if over_budget {
        println!("at least one function is over a budget");
    }
}
