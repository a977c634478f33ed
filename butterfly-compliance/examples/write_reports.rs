//! Write every report format for the misconfigured fixture org into a directory, for
//! `scripts/validate-reports` to check with external validators.
//!
//! Run with: `cargo run -p butterfly-compliance --example write_reports -- OUT_DIR`

#[path = "../tests/it/support.rs"]
mod support;

use butterfly_compliance::report::{Format, render};
use butterfly_compliance::{Framework, evaluate};

fn main() -> support::Fallible<()> {
    let out = std::env::args_os()
        .nth(1)
        .ok_or("usage: write_reports OUT_DIR")?;
    let out = std::path::PathBuf::from(out);
    std::fs::create_dir_all(&out)?;
    let (source, snapshot) = support::load("misconfigured-org.json")?;
    let report = futures::executor::block_on(evaluate(
        &source,
        &snapshot,
        &Framework::ALL,
        support::GENERATED_AT,
    ))?;
    for format in Format::ALL {
        let path = out.join(format!("report.{}", format.extension()));
        std::fs::write(&path, render(&report, format)?)?;
        println!("{}", path.display());
    }
    Ok(())
}
