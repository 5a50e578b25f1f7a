//! The demo scenario as shipped (copied from the project's shared scenario data): the 54
//! recipient counties with their illustrative pairing, area, elevation and poverty weight, and
//! the seed document's headline figures the generated records must add up to.

use domain::RegionCode;
use serde::Deserialize;

const COUNTIES_CSV: &str = include_str!("../scenario/shenzhen-2020-counties.csv");
const SEED_FIGURES_TOML: &str = include_str!("../scenario/seed-figures.toml");

#[derive(Debug, Clone)]
pub struct County {
    pub code: RegionCode,
    pub name: String,
    pub province: String,
    pub prefecture: String,
    /// 东西部扶贫协作, 对口支援, 对口合作, 省内对口帮扶.
    pub relation: String,
    /// 深圳市 or a district (福田区…).
    pub shenzhen_side: String,
    pub since_year: i64,
    pub until_year: Option<i64>,
    pub area_km2: f64,
    pub elevation_m: i64,
    pub poor_weight: u32,
}

impl County {
    pub fn paired_in(&self, year: i64) -> bool {
        year >= self.since_year && self.until_year.is_none_or(|u| year <= u)
    }

    /// Still paired at the end of the scenario (no end year).
    pub fn still_paired(&self) -> bool {
        self.until_year.is_none()
    }

    pub fn province_code(&self) -> i64 {
        self.code.short_value() / 10_000
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Xinjiang {
    pub counties: Vec<String>,
    pub since_year: i64,
    pub funds_yuan_from: i64,
    pub funds_yuan_below: i64,
    pub projects: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Altitude {
    pub min_m: i64,
    pub max_m: i64,
}

/// `seed-figures.toml`: what the generated records must add up to (never stored as such).
#[derive(Debug, Clone, Deserialize)]
pub struct SeedFigures {
    pub as_of: String,
    pub started_year: i64,
    pub themes: Vec<String>,
    pub provinces: i64,
    pub counties: i64,
    pub area_km2: f64,
    pub shenzhen_area_km2: f64,
    pub shenzhen_equivalents: i64,
    pub fiscal_funds_yuan_above: i64,
    pub projects_above: i64,
    pub people_out_of_poverty: i64,
    pub remaining_share: f64,
    pub xinjiang: Xinjiang,
    pub altitude: Altitude,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub counties: Vec<County>,
    pub figures: SeedFigures,
}

#[derive(Debug, Deserialize)]
struct CountyRow {
    county_code: String,
    county_name: String,
    province: String,
    prefecture: String,
    relation: String,
    shenzhen_side: String,
    since_year: i64,
    until_year: Option<i64>,
    area_km2: f64,
    elevation_m: i64,
    poor_weight: u32,
}

impl Scenario {
    /// The shipped scenario. Panics only if the files compiled into the binary are broken,
    /// which the unit tests rule out.
    pub fn shipped() -> Scenario {
        Scenario::parse(COUNTIES_CSV, SEED_FIGURES_TOML).expect("shipped demo scenario is valid")
    }

    pub fn parse(counties_csv: &str, figures_toml: &str) -> Result<Scenario, String> {
        let mut reader = csv::Reader::from_reader(counties_csv.as_bytes());
        let mut counties = Vec::new();
        for (i, row) in reader.deserialize::<CountyRow>().enumerate() {
            let r = row.map_err(|e| format!("counties row {}: {e}", i + 2))?;
            let code = RegionCode::parse(&r.county_code)
                .map_err(|e| format!("counties row {}: {e}", i + 2))?;
            counties.push(County {
                code,
                name: r.county_name,
                province: r.province,
                prefecture: r.prefecture,
                relation: r.relation,
                shenzhen_side: r.shenzhen_side,
                since_year: r.since_year,
                until_year: r.until_year,
                area_km2: r.area_km2,
                elevation_m: r.elevation_m,
                poor_weight: r.poor_weight,
            });
        }
        let figures: SeedFigures =
            toml::from_str(figures_toml).map_err(|e| format!("seed figures: {e}"))?;
        Ok(Scenario { counties, figures })
    }

    pub fn is_xinjiang(&self, county: &County) -> bool {
        self.figures
            .xinjiang
            .counties
            .iter()
            .any(|c| *c == county.code.short_value().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn shipped_scenario_matches_its_headline_figures() {
        let s = Scenario::shipped();
        assert_eq!(s.counties.len() as i64, s.figures.counties);
        let provinces: BTreeSet<i64> = s.counties.iter().map(|c| c.province_code()).collect();
        assert_eq!(provinces.len() as i64, s.figures.provinces);
        let area: f64 = s.counties.iter().map(|c| c.area_km2).sum();
        assert_eq!(area, s.figures.area_km2);
        assert_eq!(
            (area / s.figures.shenzhen_area_km2).round() as i64,
            s.figures.shenzhen_equivalents
        );
        let min = s.counties.iter().map(|c| c.elevation_m).min().unwrap();
        let max = s.counties.iter().map(|c| c.elevation_m).max().unwrap();
        assert_eq!(
            (min, max),
            (s.figures.altitude.min_m, s.figures.altitude.max_m)
        );
        assert_eq!(s.counties.iter().filter(|c| s.is_xinjiang(c)).count(), 2);
    }
}
