//! `tether sandbox generate --records N --seed S --out FILE`: writes a labelled CSV of
//! synthetic profiles (duplicates and households included) in the format `tether match
//! evaluate` reads. Owns the file writing only; the people come from the pure
//! [`crate::generate`]. Never prints profile contents.

use super::UsageError;
use crate::generate::{GenOptions, GeneratedProfile, generate};
use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Options of `tether sandbox generate`.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// Number of profiles to write.
    #[arg(long, default_value_t = 10_000)]
    pub records: usize,
    /// Seed: the same seed writes the same file.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output CSV file ("-" for standard output).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// The labelled CSV header, in the column order of the shared dedup data.
pub const HEADER: [&str; 13] = [
    "record_id",
    "entity_id",
    "source",
    "first_name",
    "last_name",
    "email",
    "phone",
    "address1",
    "address2",
    "city",
    "zip",
    "state",
    "country",
];

/// Writes `profiles` as a labelled CSV to `out`.
pub fn write_csv<W: Write>(out: W, profiles: &[GeneratedProfile]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER)?;
    for p in profiles {
        w.write_record([
            p.record_id.as_str(),
            p.entity_id.as_str(),
            p.source.map_or("", |s| s.as_str()),
            &p.first_name,
            &p.last_name,
            &p.email,
            &p.phone,
            &p.address1,
            &p.address2,
            &p.city,
            &p.zip,
            &p.state,
            &p.country,
        ])?;
    }
    w.flush()?;
    Ok(())
}

fn write_file(path: &Path, profiles: &[GeneratedProfile]) -> anyhow::Result<()> {
    if path.as_os_str() == "-" {
        return write_csv(std::io::stdout().lock(), profiles);
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    write_csv(std::io::BufWriter::new(file), profiles)
        .with_context(|| format!("writing {}", path.display()))
}

/// Runs `tether sandbox generate`.
pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    if args.records == 0 {
        return Err(UsageError("--records must be at least 1".into()).into());
    }
    let profiles = generate(&GenOptions {
        records: args.records,
        seed: args.seed,
        ..GenOptions::default()
    });
    write_file(&args.out, &profiles)?;
    if args.out.as_os_str() != "-" {
        eprintln!(
            "wrote {} labelled profiles to {}",
            profiles.len(),
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::matching::read_labelled_from;

    #[test]
    fn written_csv_reads_back_as_labelled_data() {
        let profiles = generate(&GenOptions {
            records: 50,
            seed: 5,
            ..GenOptions::default()
        });
        let mut buf = Vec::new();
        write_csv(&mut buf, &profiles).unwrap();
        let back = read_labelled_from(buf.as_slice(), "mem").unwrap();
        assert_eq!(back.records.len(), 50);
        assert_eq!(back.entities[0], profiles[0].entity_id);
        assert_eq!(back.records[7], profiles[7].to_match_record());
    }
}
