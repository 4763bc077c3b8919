//! The shared labelled data sets the matcher bench measures on, read at run time from the
//! dedup data folder (never copied into the repository): the profile CSVs as
//! `tether match evaluate` reads them, and two other layouts turned into that shape —
//! Fodor's/Zagat's restaurants (a linking set: Fodor's as HubSpot, Zagat's as Gorgias; the
//! name in `last_name`, so the relatives guard keeps them out of the auto band) and Splink's
//! `fake_1000` (names, e-mail, city, date of birth). Owns file
//! layouts only; must never score or judge.

use std::collections::HashMap;
use std::path::Path;
use tether::commands::matching::{Labelled, read_labelled};
use tether::domain::System;
use tether::matcher::MatchRecord;

/// Reads `file` from `dir`: a profile CSV, or one of the converted layouts by name.
pub fn load(dir: &Path, file: &str) -> Result<Labelled, String> {
    match file {
        "restaurants" => restaurants(dir),
        "splink_fake_1000" => splink_fake(dir),
        _ => read_labelled(&dir.join(file)).map_err(|e| format!("{e:#}")),
    }
}

/// Latin-1 bytes as text (each byte is its own code point).
fn latin1(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(bytes.iter().map(|&b| b as char).collect())
}

fn rows(text: &str) -> Result<Vec<HashMap<String, String>>, String> {
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers = rdr.headers().map_err(|e| e.to_string())?.clone();
    rdr.records()
        .map(|r| {
            let r = r.map_err(|e| e.to_string())?;
            Ok(headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect())
        })
        .collect()
}

fn restaurants(dir: &Path) -> Result<Labelled, String> {
    let matches = rows(&latin1(&dir.join("restaurants_matches_fodors_zagats.csv"))?)?;
    let zagat_entity: HashMap<String, String> = matches
        .iter()
        .map(|m| (m["zagats_id"].clone(), format!("f{}", m["fodors_id"])))
        .collect();
    let mut out = Labelled::default();
    for (file, system, prefix) in [
        ("restaurants_fodors.csv", System::Hubspot, "f"),
        ("restaurants_zagats.csv", System::Gorgias, "z"),
    ] {
        for r in rows(&latin1(&dir.join(file))?)? {
            let id = format!("{prefix}{}", r["id"]);
            let entity = match system {
                System::Gorgias => zagat_entity.get(&r["id"]).cloned().unwrap_or(id.clone()),
                System::Hubspot => id.clone(),
            };
            out.entities.push(entity);
            out.records.push(MatchRecord {
                id,
                source: Some(system),
                last_name: r["name"].clone(),
                phone: r["phone"].clone(),
                address1: r["addr"].clone(),
                city: r["city"].clone(),
                country: "US".into(),
                ..MatchRecord::default()
            });
        }
    }
    Ok(out)
}

fn splink_fake(dir: &Path) -> Result<Labelled, String> {
    let path = dir.join("splink_fake_1000/fake_1000.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Labelled::default();
    for r in rows(&text)? {
        out.entities.push(r["cluster"].clone());
        out.records.push(MatchRecord {
            id: r["unique_id"].clone(),
            first_name: r["first_name"].clone(),
            last_name: r["surname"].clone(),
            email: r["email"].clone(),
            city: r["city"].clone(),
            date_of_birth: r["dob"].clone(),
            country: "GB".into(),
            ..MatchRecord::default()
        });
    }
    Ok(out)
}
